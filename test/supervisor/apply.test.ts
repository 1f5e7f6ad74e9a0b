import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync, rmSync, writeFileSync, mkdirSync } from 'node:fs';
import { afterEach, describe, expect, it } from 'vitest';
import { BOARD_MODULES_LOAD, BUILD_INFO, type BuildInfo, GOOD_CONFIG, SECRETS_DIR, STORED_CONFIG } from '../../src/onbox.js';
import { HAPROXY_CFG, INTERFACES_FILE, LDIRECTORD_CF } from '../../src/daemons/index.js';
import { applyConfig } from '../../src/supervisor/apply.js';
import { at } from '../../src/supervisor/root.js';
import { type FakeBox, fakeBox, L4_CONFIG } from './fake-box.js';

const L4 = L4_CONFIG;
const L7 = `${L4}layer7:
  - label: Web
    vip: 192.0.2.21
    ports: [8080]
    real_servers:
      - label: web1
        ip: 192.0.2.31
        port: 8080
`;
const HA = L4.replace('hostname: lb', 'hostname: lb-primary').replace('vip: 192.0.2.21', 'vip: 192.0.2.100') +
  `floating_ips:
  - address: 192.0.2.100/24
    interface: eth0
ha:
  primary: { hostname: lb-primary, address: 192.0.2.21 }
  secondary: { hostname: lb-secondary, address: 192.0.2.22 }
`;

let box: FakeBox;
afterEach(() => rmSync(box.root, { recursive: true, force: true }));

function deps(b: FakeBox) {
  return { root: b.root, run: b.run, log: (l: string) => b.log.push(l), upTimeoutMs: 500 };
}
const live = (b: FakeBox, p: string) => (existsSync(at(b.root, p)) ? readFileSync(at(b.root, p), 'utf8') : undefined);

describe('lbapply pipeline', () => {
  it('renders, checks with the real checkers, swaps in, reloads, records', async () => {
    box = fakeBox();
    const r = await applyConfig({ text: L4, file: 'l4.yaml', record: 'store' }, deps(box));
    expect(live(box, LDIRECTORD_CF)).toMatch(/virtual=192\.0\.2\.21:80/);
    expect(live(box, INTERFACES_FILE)).toMatch(/address 192\.0\.2\.21\/24/);
    expect(live(box, '/etc/hostname')).toBe('lb\n');
    expect(box.checks.map((c) => c.split(' ')[0])).toEqual(expect.arrayContaining(['haproxy', 'ldirectord', 'nft', 'ifup']));
    expect(box.actions).toEqual(
      // A new virtual service: ldirectord(8) wants a restart, a reload would not add it.
      expect.arrayContaining(['systemctl restart ldirectord.service', 'ifdown --force eth0', 'ifup eth0', 'systemctl stop haproxy.service']),
    );
    expect(r.changed).toContain(LDIRECTORD_CF);
    expect(live(box, STORED_CONFIG)).toBe(L4);
    expect(live(box, GOOD_CONFIG)).toBe(L4);
    // the apply lock is released: another holder gets it at once
    expect(spawnSync('flock', ['--nonblock', '--exclusive', at(box.root, '/run/lbimage/apply.lock'), 'true']).status).toBe(0);
  });

  it('changes nothing and reloads nothing when applied twice', async () => {
    box = fakeBox();
    await applyConfig({ text: L4, file: 'l4.yaml', record: 'store' }, deps(box));
    box.actions.length = 0;
    box.checks.length = 0;
    const r = await applyConfig({ text: L4, file: 'l4.yaml', record: 'store' }, deps(box));
    expect(r.changed).toEqual([]);
    expect(box.actions.filter((a) => /reload|restart|ifup|ifdown|sysctl/.test(a))).toEqual([]);
    // What is live passed its checker when it was swapped in (a boot applying the stored config).
    expect(box.checks).toEqual([]);
    // Its services run already: no start for them (systemd is asked once, for every unit).
    expect(box.actions.filter((a) => a.startsWith('systemctl start'))).toEqual([]);
  });

  it('starts again a wanted service found stopped, and only that one', async () => {
    box = fakeBox();
    await applyConfig({ text: L4, file: 'l4.yaml', record: 'store' }, deps(box));
    box.actions.length = 0;
    box.down.add('ldirectord.service');
    // The fake's unit stays down, so the apply fails and its rollback starts it once more.
    await applyConfig({ text: L4, file: 'l4.yaml', record: 'store' }, deps(box)).catch(() => undefined);
    expect(new Set(box.actions.filter((a) => a.startsWith('systemctl start')))).toEqual(new Set(['systemctl start ldirectord.service']));
  });

  it('reloads only HAProxy and the firewall (the new VIP port) when only the Layer 7 part changes', async () => {
    box = fakeBox();
    await applyConfig({ text: L4, file: 'l4.yaml', record: 'store' }, deps(box));
    box.actions.length = 0;
    box.checks.length = 0;
    const r = await applyConfig({ text: L7, file: 'l7.yaml', record: 'store' }, deps(box));
    expect(r.changed).toEqual([HAPROXY_CFG, '/etc/nftables.conf']);
    expect(box.checks.map((c) => c.split(' ')[0]).sort()).toEqual(['haproxy', 'nft']);
    expect(box.actions.filter((a) => /reload|restart|ifup|ifdown|sysctl/.test(a)).sort()).toEqual(['systemctl reload-or-restart haproxy.service', 'systemctl reload-or-restart nftables.service']);
  });

  it('refuses an invalid config with file:line:col, touching nothing', async () => {
    box = fakeBox();
    const bad = L4.replace('ip: 192.0.2.30', 'ip: 192.0.2.300');
    const err = await applyConfig({ text: bad, file: 'bad.yaml', record: 'store' }, deps(box)).catch((e) => e);
    expect(err.code).toBe('E_CONFIG_INVALID');
    expect(err.message).toMatch(/bad\.yaml:14:13: layer4\[0\]\.real_servers\[0\]\.ip: /);
    expect(box.actions).toEqual([]);
    expect(live(box, LDIRECTORD_CF)).toBeUndefined();
    expect(live(box, STORED_CONFIG)).toBeUndefined();
  });

  it("refuses what a daemon's checker rejects, naming the on-box file, touching nothing", async () => {
    box = fakeBox();
    await applyConfig({ text: L4, file: 'l4.yaml', record: 'store' }, deps(box));
    const before = live(box, HAPROXY_CFG);
    box.actions.length = 0;
    const realRun = box.run;
    box.run = async (cmd, args, opts) =>
      cmd === 'haproxy'
        ? { stdout: '', stderr: `[ALERT] config : parsing [${args[3]}:12] : unknown keyword 'bogus'`, exitCode: 1 }
        : realRun(cmd, args, opts);
    const err = await applyConfig({ text: L7, file: 'l7.yaml', record: 'store' }, deps(box)).catch((e) => e);
    expect(err.code).toBe('E_CHECK_FAILED');
    expect(err.message).toContain(`parsing [${HAPROXY_CFG}:12]`);
    expect(err.message).not.toContain('/run/lbimage/staging');
    expect(live(box, HAPROXY_CFG)).toBe(before);
    expect(live(box, STORED_CONFIG)).toBe(L4);
    expect(box.actions).toEqual([]);
  });

  it('rolls back to the last known good config when a service does not come up', async () => {
    box = fakeBox();
    await applyConfig({ text: L4, file: 'l4.yaml', record: 'store' }, deps(box));
    const goodCfg = live(box, HAPROXY_CFG);
    box.actions.length = 0;
    box.down.add('haproxy.service');
    const err = await applyConfig({ text: L7, file: 'l7.yaml', record: 'store' }, deps(box)).catch((e) => e);
    expect(err.code).toBe('E_SERVICE_DOWN');
    expect(err.message).toContain('haproxy.service is not active');
    expect(err.message).toContain(`rolled back to the last known good config ${at(box.root, GOOD_CONFIG)}`);
    expect(live(box, HAPROXY_CFG)).toBe(goodCfg);
    expect(live(box, STORED_CONFIG)).toBe(L4);
    // The rollback's good config has no Layer 7: HAProxy, which never came up, needs no stop.
    expect(box.actions.filter((a) => a.includes('haproxy'))).toEqual(['systemctl reload-or-restart haproxy.service']);
  });

  it('puts the old files back when there is no last known good config', async () => {
    box = fakeBox();
    box.failing.add('systemctl restart ldirectord.service');
    const err = await applyConfig({ text: L4, file: 'l4.yaml', record: 'store' }, deps(box)).catch((e) => e);
    expect(err.code).toBe('E_TOOL_FAILED');
    expect(err.message).toContain('rolled back to the files as they were');
    expect(live(box, LDIRECTORD_CF)).toBeUndefined();
    expect(live(box, STORED_CONFIG)).toBeUndefined();
  });

  it('needs the heartbeat secret made on the box for an HA pair', async () => {
    box = fakeBox();
    const err = await applyConfig({ text: HA, file: 'ha.yaml', record: 'store' }, deps(box)).catch((e) => e);
    expect(err.code).toBe('E_SECRET_MISSING');
    mkdirSync(at(box.root, SECRETS_DIR), { recursive: true });
    writeFileSync(at(box.root, `${SECRETS_DIR}/heartbeat.key`), `${'ab'.repeat(32)}\n`);
    await applyConfig({ text: HA, file: 'ha.yaml', record: 'store' }, deps(box));
    expect(live(box, '/etc/ha.d/authkeys')).toContain('ab'.repeat(32));
    expect(box.actions).toContain('systemctl reload-or-restart heartbeat.service');
    // systemd runs ldirectord on both units of a pair (warm IPVS table for a failover).
    expect(box.actions).toContain('systemctl restart ldirectord.service');
  });

  it('sets the administrator password from the hash, on stdin', async () => {
    box = fakeBox();
    const hash = '$6$saltsaltsalt$abcdefghijklmnopqrstuvwxyz';
    await applyConfig({ text: `${L4}admin:\n  password_hash: "${hash}"\n`, file: 'a.yaml', record: 'store' }, deps(box));
    expect(box.actions).toContain(`chpasswd --encrypted <<< root:${hash}`);
  });
});

/** The pair's primary with its secret on the box and heartbeat's first apply done (heartbeat restarted). */
async function pairBox(rscstatus: string | undefined): Promise<FakeBox> {
  const b = fakeBox();
  mkdirSync(at(b.root, SECRETS_DIR), { recursive: true });
  writeFileSync(at(b.root, `${SECRETS_DIR}/heartbeat.key`), `${'ab'.repeat(32)}\n`);
  await applyConfig({ text: HA, file: 'ha.yaml', record: 'store' }, deps(b));
  b.rscstatus = rscstatus;
  b.hbLdirectord = rscstatus === 'all' || rscstatus === 'local';
  b.actions.length = 0;
  b.checks.length = 0;
  return b;
}

const HA_TWO_SERVICES = `${HA}`.replace(
  'floating_ips:',
  `  - label: VIP2
    vip: 192.0.2.100
    ports: [443]
    forwarding: dr
    real_servers:
      - label: RIP1
        ip: 192.0.2.30
floating_ips:`,
);
const HA_WEIGHT = HA.replace('        ip: 192.0.2.30\n', '        ip: 192.0.2.30\n        weight: 5\n');

const HA_TWO_FLOATING = HA.replace('ha:\n', '  - address: 192.0.2.101/24\n    interface: eth0\nha:\n');
const HA_FAILBACK = `${HA}  auto_failback: true\n`;
const HA_SECOND_ADDRESS = HA.replace('addresses: [192.0.2.21/24]', 'addresses: [192.0.2.21/24, 198.51.100.21/24]');
/** What an apply did beyond making sure each wanted unit runs (systemctl start/stop every time). */
const changes = (b: FakeBox) => b.actions.filter((a) => !/^systemctl (start|stop) /.test(a));

describe('HA pair: ldirectord warm on both units, heartbeat moves the floating IPs', { timeout: 120_000 }, () => {
  it('the first apply restarts heartbeat; systemd runs ldirectord on every unit', async () => {
    box = await pairBox(undefined);
    box = await pairBox('none');
    const r = await applyConfig({ text: HA_TWO_SERVICES, file: 'ha2.yaml', record: 'store' }, deps(box));
    // the new service's port opens in the firewall too
    expect([...r.changed].sort()).toEqual([LDIRECTORD_CF, '/etc/nftables.conf'].sort());
    // a passive unit's IPVS table gets the new service too: a failover only moves addresses
    expect(box.actions).toContain('systemctl restart ldirectord.service');
    expect(box.actions).not.toContain('systemctl reload-or-restart heartbeat.service');
    expect(live(box, '/etc/ha.d/haresources')).not.toMatch(/ldirectord/);
  });

  it('active unit, a floating IP added: started there at once, heartbeat keeps running', async () => {
    box = await pairBox('all');
    const r = await applyConfig({ text: HA_TWO_FLOATING, file: 'hf.yaml', record: 'store' }, deps(box));
    expect(r.changed).toEqual(['/etc/ha.d/haresources']);
    expect(changes(box)).toEqual(['/etc/ha.d/resource.d/lbaddr 192.0.2.101/24/eth0 start']);
  });

  it('active unit, a floating IP removed: stopped there', async () => {
    box = await pairBox('all');
    await applyConfig({ text: HA_TWO_FLOATING, file: 'hf.yaml', record: 'store' }, deps(box));
    box.actions.length = 0;
    await applyConfig({ text: HA, file: 'ha.yaml', record: 'store' }, deps(box));
    expect(changes(box)).toEqual(['/etc/ha.d/resource.d/lbaddr 192.0.2.101/24/eth0 stop']);
  });

  it('active unit, its interfaces changed: the floating IPs ifdown flushed are started again at once', async () => {
    box = await pairBox('all');
    const r = await applyConfig({ text: HA_SECOND_ADDRESS, file: 'ha-addr.yaml', record: 'store' }, deps(box));
    expect(r.changed).toContain(INTERFACES_FILE);
    const c = changes(box);
    expect(c.indexOf('/etc/ha.d/resource.d/lbaddr 192.0.2.100/24/eth0 start')).toBeGreaterThan(c.indexOf('ifup eth0'));
    expect(c).not.toContain('systemctl reload-or-restart heartbeat.service');
  });

  it('passive unit, its interfaces changed: no floating IP started', async () => {
    box = await pairBox('none');
    await applyConfig({ text: HA_SECOND_ADDRESS, file: 'ha-addr.yaml', record: 'store' }, deps(box));
    expect(changes(box)).toContain('ifup eth0');
    expect(changes(box).filter((a) => a.includes('lbaddr'))).toEqual([]);
  });

  it.each([
    ['primary holding nothing', 'none'],
    ['primary that lost its group to the peer', 'foreign'],
  ])('passive unit (%s), a floating IP added: only the file changes', async (_n, rscstatus) => {
    box = await pairBox(rscstatus);
    const r = await applyConfig({ text: HA_TWO_FLOATING, file: 'hf.yaml', record: 'store' }, deps(box));
    expect(r.changed).toEqual(['/etc/ha.d/haresources']);
    expect(changes(box)).toEqual([]);
    expect(box.log.join('\n')).toContain('passive unit of the pair');
  });

  it('ha.cf changed: heartbeat restarts', async () => {
    box = await pairBox('all');
    const r = await applyConfig({ text: HA_FAILBACK, file: 'hb.yaml', record: 'store' }, deps(box));
    expect(r.changed).toEqual(['/etc/ha.d/ha.cf']);
    expect(changes(box)).toEqual(['systemctl reload-or-restart heartbeat.service']);
  });

  it('an active unit that cannot start the new floating IP fails, exits non-zero and rolls back', async () => {
    box = await pairBox('all');
    box.failing.add('/etc/ha.d/resource.d/lbaddr 192.0.2.101/24/eth0 start');
    const err = await applyConfig({ text: HA_TWO_FLOATING, file: 'hf.yaml', record: 'store' }, deps(box)).catch((e) => e);
    expect(err.exitCode).not.toBe(0);
    expect(err.message).toContain('lbaddr 192.0.2.101/24/eth0 start');
    expect(err.message).toContain('rolled back to the last known good config');
    expect(live(box, '/etc/ha.d/haresources')).not.toMatch(/192\.0\.2\.101/);
    expect(live(box, STORED_CONFIG)).toBe(HA);
  });

  it('refuses to guess while heartbeat moves the resources', async () => {
    box = await pairBox('transition');
    const err = await applyConfig({ text: HA_TWO_FLOATING, file: 'hf.yaml', record: 'store' }, deps(box)).catch((e) => e);
    expect(err.code).toBe('E_HA_STATE');
    expect(err.message).toContain('cannot tell whether this unit is active');
    // asked before the swap: nothing changed
    expect(live(box, '/etc/ha.d/haresources')).not.toMatch(/192\.0\.2\.101/);
    expect(changes(box)).toEqual([]);
  });
});

describe('board facts from build.json', () => {
  const RACK: BuildInfo = {
    product: 'lbimage',
    version: 'test',
    board: 'rack-1u',
    built: '2026-01-01T00:00:00Z',
    facts: { kind: 'physical', consoles: ['tty1', 'ttyS0'], heartbeatSerial: 'ttyS1', nics: [], kernelModules: ['ip_vs', 'igb'] },
  };
  async function rackPair(): Promise<FakeBox> {
    const b = fakeBox();
    mkdirSync(at(b.root, '/usr/lib/lbimage'), { recursive: true });
    writeFileSync(at(b.root, BUILD_INFO), JSON.stringify(RACK));
    mkdirSync(at(b.root, SECRETS_DIR), { recursive: true });
    writeFileSync(at(b.root, `${SECRETS_DIR}/heartbeat.key`), `${'ab'.repeat(32)}\n`);
    mkdirSync(at(b.root, '/etc/modules-load.d'), { recursive: true });
    writeFileSync(at(b.root, BOARD_MODULES_LOAD), '# board\nip_vs\nigb\n');
    return b;
  }

  it("refuses a heartbeat serial device that is one of the board's consoles, with its location", async () => {
    box = await rackPair();
    const text = `${HA}  serial:\n    device: /dev/ttyS0\n`;
    const err = await applyConfig({ text, file: 'pair.yaml', record: 'store' }, deps(box)).catch((e) => e);
    expect(err.code).toBe('E_CONFIG_INVALID');
    expect(err.message).toContain('pair.yaml:22:13: ha.serial.device: /dev/ttyS0 is a console of board rack-1u');
    expect(box.actions).toEqual([]);
  });

  it("puts heartbeat's serial link on the board's port, and leaves the board's modules file alone", async () => {
    box = await rackPair();
    await applyConfig({ text: `${HA}  serial: {}\n`, file: 'pair.yaml', record: 'store' }, deps(box));
    expect(live(box, '/etc/ha.d/ha.cf')).toMatch(/^serial \/dev\/ttyS1$/m);
    expect(live(box, BOARD_MODULES_LOAD)).toBe('# board\nip_vs\nigb\n');
    expect(live(box, '/etc/modules-load.d/lbimage-config.conf')).toMatch(/^ip_vs_wlc$/m);
  });
});
