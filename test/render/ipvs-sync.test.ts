/**
 * IPVS connection sync in an HA pair (issue 16, item 5b): both units run both sync daemons on the
 * heartbeat interface with one sync id, the peer's sync messages pass the firewall, and the up
 * probe reads ipvsadm's own listing.
 */
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { ipvsSync, syncIdOf } from '../../src/daemons/ipvs-sync.js';
import { load } from './configs.js';

const examples = join(import.meta.dirname, '..', '..', 'examples');
const primary = load(join(examples, 'ha-pair-primary.yaml'));
const secondary = load(join(examples, 'ha-pair-secondary.yaml'));

describe('IPVS connection sync', () => {
  it('one sync id for the pair, the same on both units, in 1..255', () => {
    expect(syncIdOf(primary)).toBe(syncIdOf(secondary));
    expect(syncIdOf(primary)).toBeGreaterThanOrEqual(1);
    expect(syncIdOf(primary)).toBeLessThanOrEqual(255);
    const other = { ...primary, ha: { ...primary.ha!, secondary: { ...primary.ha!.secondary, address: '192.0.2.99' } } };
    expect(syncIdOf(other)).not.toBe(syncIdOf(primary));
  });

  it('wanted for a pair with Layer 4 services only', () => {
    expect(ipvsSync.wanted!(primary)).toBe(true);
    expect(ipvsSync.render(primary, { secrets: {} })[0]!.content).toMatch(new RegExp(`^INTERFACE=eth0\nSYNCID=${syncIdOf(primary)}\n$`, 'm'));
    expect(ipvsSync.wanted!({ ...primary, layer4: [] })).toBe(false);
    const { ha: _ha, ...single } = primary;
    expect(ipvsSync.wanted!(single)).toBe(false);
    expect(ipvsSync.render(single, { secrets: {} })).toEqual([]);
  });

  it('is up when ipvsadm lists both daemons on the interface with the sync id (with or without ipvsadm 1.31\'s extra fields)', () => {
    const [probe] = ipvsSync.up!(primary);
    const id = syncIdOf(primary);
    const ok = (stdout: string) => probe!.ok({ stdout, exitCode: 0 });
    expect(probe!.argv).toEqual(['ipvsadm', '-L', '--daemon']);
    expect(ok(`master sync daemon (mcast=eth0, syncid=${id}, maxlen=1472, group=224.0.0.81, port=8848, ttl=1)\nbackup sync daemon (mcast=eth0, syncid=${id}, maxlen=1472, group=224.0.0.81, port=8848, ttl=1)\n`)).toBe(true);
    expect(ok(`master sync daemon (mcast=eth0, syncid=${id})\nbackup sync daemon (mcast=eth0, syncid=${id})\n`)).toBe(true);
    expect(ok(`master sync daemon (mcast=eth0, syncid=${id})\n`)).toBe(false);
    expect(ok(`master sync daemon (mcast=eth1, syncid=${id})\nbackup sync daemon (mcast=eth1, syncid=${id})\n`)).toBe(false);
    expect(ok(`master sync daemon (mcast=eth0, syncid=${id}0)\nbackup sync daemon (mcast=eth0, syncid=${id}0)\n`)).toBe(false);
  });
});
