/**
 * How a changed /etc/network/interfaces goes live (found by test/e2e/traffic.test.ts: applying the
 * RabbitMQ DR example after the two-arm NAT one failed with "RTNETLINK answers: File exists"):
 * interfaces the config drops lose their addresses and routes, every interface goes down before
 * any comes up, so a default route can move from one interface to another.
 */
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { INTERFACES_FILE, network } from '../../src/daemons/network.js';
import { load } from '../render/configs.js';

const examples = join(import.meta.dirname, '..', '..', 'examples');

describe('networking reload', () => {
  it('drops unconfigured NICs, then takes every interface down before bringing any up', () => {
    const changed = [{ path: INTERFACES_FILE, before: undefined, after: '' }];
    const argv = network.live(load(join(examples, 'rabbitmq-l4-dr.yaml')), changed).map((a) => a.join(' '));
    expect(argv[0]).toMatch(/^sh -c .*ip addr flush dev "\$n"; ip link set dev "\$n" down; done lbapply eth1 eth2 eth3$/);
    expect(argv.slice(1)).toEqual(['ifdown --force eth0', 'ifup eth0']);
    const two = network.live(load(join(examples, 'two-arm-nat.yaml')), changed).map((a) => a.join(' '));
    expect(two.slice(1)).toEqual(['ifdown --force eth0', 'ifdown --force eth1', 'ifup eth0', 'ifup eth1']);
  });
});
