import { existsSync, mkdirSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { PassThrough } from 'node:stream';
import { afterEach, describe, expect, it } from 'vitest';
import { CERTS_DIR, GOOD_CONFIG, SSH_KEYS_DIR, STORED_CONFIG, SUPERVISOR_LOG } from '../../src/onbox.js';
import { INTERFACES_FILE, LDIRECTORD_CF, SSH_AUTHORIZED_KEYS } from '../../src/daemons/index.js';
import { SERVER_STATE } from '../../src/supervisor/server-state.js';
import { applyConfig } from '../../src/supervisor/apply.js';
import { bootFlow } from '../../src/supervisor/boot.js';
import { consoleUntilConfigured } from '../../src/supervisor/console.js';
import { restartConsoles, restoreFactorySettings } from '../../src/supervisor/restore.js';
import { at } from '../../src/supervisor/root.js';
import { type FakeBox, fakeBox, L4_CONFIG } from './fake-box.js';

const L4 = L4_CONFIG;

let box: FakeBox;
let said: string[];
afterEach(() => rmSync(box.root, { recursive: true, force: true }));

function deps(b: FakeBox) {
  said = [];
  return { root: b.root, run: b.run, log: (l: string) => b.log.push(l), upTimeoutMs: 300, say: (t: string) => said.push(t) };
}
const live = (p: string) => (existsSync(at(box.root, p)) ? readFileSync(at(box.root, p), 'utf8') : undefined);
const put = (p: string, text: string) => {
  mkdirSync(at(box.root, p.replace(/\/[^/]+$/, '')), { recursive: true });
  writeFileSync(at(box.root, p), text);
};
/** What an administrator gives a unit beyond its config: keys, a certificate, a drained server. */
const UNIT_STATE = [SSH_AUTHORIZED_KEYS, '/root/.ssh/authorized_keys', `${CERTS_DIR}/www.pem`, SERVER_STATE];
const GIVEN = 'given by the administrator\n';
const putUnitState = () => UNIT_STATE.forEach((p) => put(p, GIVEN));
// The factory apply may render an empty keys file of its own: what was given must be gone.
const expectUnitStateGone = () => expect(UNIT_STATE.filter((p) => live(p)?.includes(GIVEN))).toEqual([]);


describe('boot flow', () => {
  it('first boot: factory address after a quiet ARP probe, secrets made, wizard wanted', async () => {
    box = fakeBox();
    const out = await bootFlow(deps(box));
    expect(out.configured).toBe(false);
    expect(live(INTERFACES_FILE)).toMatch(/address 192\.168\.2\.21\/24/);
    expect(said.join('\n')).toContain('eth0 has the factory address 192.168.2.21/24');
    expect(box.actions).toEqual(expect.arrayContaining(['ip link set dev eth0 up', 'usermod --lock root', `ssh-keygen -q -t ed25519 -N  -f ${box.root}/etc/ssh/ssh_host_ed25519_key`]));
    expect(live('/etc/machine-id')).toMatch(/^[0-9a-f]{32}\n$/);
    // Ed25519 and ECDSA, no RSA (HOST_KEY_TYPES), each kept on the data partition.
    expect(readdirSync(at(box.root, SSH_KEYS_DIR)).sort()).toEqual(['ssh_host_ecdsa_key', 'ssh_host_ecdsa_key.pub', 'ssh_host_ed25519_key', 'ssh_host_ed25519_key.pub']);
    expect(live(STORED_CONFIG)).toBeUndefined();
    expect(live(SUPERVISOR_LOG)).toContain('lbboot: factory defaults');
  });

  it('a freshly updated slot: the machine-id systemd just made gives way to the unit\'s own', async () => {
    box = fakeBox();
    await bootFlow(deps(box));
    const id = live('/etc/machine-id');
    // the new slot's first boot: systemd wrote another random ID into its empty /etc/machine-id
    put('/etc/machine-id', '0123456789abcdef0123456789abcdef\n');
    await bootFlow(deps(box));
    expect(live('/etc/machine-id')).toBe(id);
  });

  it('takes no address when another host answers for 192.168.2.21, and says why', async () => {
    box = fakeBox();
    box.arping = { exitCode: 0, stdout: '60 bytes from 52:54:00:aa:bb:cc (192.168.2.21): index=0 time=1.2 msec\n' };
    await bootFlow(deps(box));
    expect(live(INTERFACES_FILE)).not.toContain('192.168.2.21');
    expect(live(INTERFACES_FILE)).toMatch(/iface eth0 inet manual/);
    expect(said.join('\n')).toContain('eth0 has no address: another host (52:54:00:aa:bb:cc) already answers for 192.168.2.21');
  });

  it('says so when the data partition cannot be found or mounted', async () => {
    box = fakeBox();
    box.failing.add('mountpoint');
    box.failing.add('findfs');
    await bootFlow(deps(box));
    expect(said[0]).toBe('WARNING: the data partition (PARTLABEL=lbdata) is not mounted: no partition is named lbdata; settings made now are lost at the next boot');
  });

  it('mounts the data partition itself when fstab did not', async () => {
    box = fakeBox();
    box.failing.add('mountpoint');
    const realRun = box.run;
    box.run = async (cmd, args, opts) => (cmd === 'findfs' ? { stdout: '/dev/vda5\n', stderr: '', exitCode: 0 } : realRun(cmd, args, opts));
    await bootFlow(deps(box));
    expect(box.actions).toContain('mount /dev/vda5 /var/lib/lbimage');
    expect(said.join('\n')).not.toContain('WARNING');
  });

  it('applies a valid stored config and records it as last known good', async () => {
    box = fakeBox();
    put(STORED_CONFIG, L4);
    const out = await bootFlow(deps(box));
    expect(out.configured).toBe(true);
    expect(live(LDIRECTORD_CF)).toContain('virtual=192.0.2.21:80');
    expect(live(GOOD_CONFIG)).toBe(L4);
    expect(box.actions).not.toContain('usermod --lock root');
  });

  it('falls back to the last known good config when the stored one is damaged, and says so', async () => {
    box = fakeBox();
    put(GOOD_CONFIG, L4);
    put(STORED_CONFIG, L4.slice(0, 150)); // torn in the middle of layer4
    const out = await bootFlow(deps(box));
    expect(out.configured).toBe(true);
    const text = said.join('\n');
    expect(text).toMatch(/WARNING: the stored config is damaged:\n.*appliance\.yaml:\d+:\d+: /);
    expect(text).toContain(`Falling back to the last known good config ${at(box.root, GOOD_CONFIG)}`);
    expect(live(LDIRECTORD_CF)).toContain('virtual=192.0.2.21:80');
  });

  it('honours the factory-reset kernel argument before anything else', async () => {
    box = fakeBox();
    put(STORED_CONFIG, L4);
    put(GOOD_CONFIG, L4);
    put('/var/lib/lbimage/secrets/heartbeat.key', 'ab'.repeat(32));
    putUnitState();
    put('/proc/cmdline', 'BOOT_IMAGE=/vmlinuz root=PARTLABEL=rootfs-a lbimage.factory=1 quiet\n');
    const out = await bootFlow(deps(box));
    expect(out.configured).toBe(false);
    expect(live(STORED_CONFIG)).toBeUndefined();
    expect(live(GOOD_CONFIG)).toBeUndefined();
    expect(live('/var/lib/lbimage/secrets/heartbeat.key')).toBeUndefined();
    expectUnitStateGone();
    expect(live(SUPERVISOR_LOG)).toContain('lbrestore: factory settings restored at boot');
  });
});

describe('lbrestore', () => {
  it('wipes config, secrets, SSH keys, certificates and server states, makes new host keys, applies factory defaults, restarts the consoles, logs', async () => {
    box = fakeBox();
    const d = deps(box);
    await applyConfig({ text: L4, file: 'l4.yaml', record: 'store' }, d);
    put(`${SSH_KEYS_DIR}/ssh_host_ed25519_key`, 'old-key');
    put('/etc/ssh/ssh_host_ed25519_key', 'old-key');
    putUnitState();
    await restoreFactorySettings(d, 'test');
    await restartConsoles(d);
    expectUnitStateGone();
    expect(live(STORED_CONFIG)).toBeUndefined();
    expect(live(GOOD_CONFIG)).toBeUndefined();
    expect(live('/etc/ssh/ssh_host_ed25519_key')).not.toBe('old-key');
    expect(live(INTERFACES_FILE)).toContain('192.168.2.21/24');
    expect(box.actions).toContain('systemctl stop ldirectord.service');
    expect(box.actions.at(-1)).toBe('systemctl --no-block restart getty@tty1.service serial-getty@ttyS0.service');
    expect(live(SUPERVISOR_LOG)).toMatch(/lbrestore: factory settings requested \(test\)\n.*lbrestore: factory settings restored/);
  });
});

describe('console of an unconfigured unit', () => {
  const keys = ['', 'n', 'n', '192.0.2.21', '', '198.51.100.21', '', '198.51.100.1', '', '80', '192.0.2.10', 'adminpass1', 'adminpass1', '', ''];

  it('runs the wizard; on confirm the config is applied, stored and the password set', async () => {
    box = fakeBox();
    const input = new PassThrough();
    const output = new PassThrough();
    let out = '';
    output.on('data', (d) => (out += d));
    input.end(keys.map((k) => `${k}\r`).join(''));
    await consoleUntilConfigured({ input, output }, deps(box));
    expect(out).toContain('Setup complete');
    expect(live(STORED_CONFIG)).toMatch(/forwarding: nat/);
    expect(live(LDIRECTORD_CF)).toMatch(/virtual=198\.51\.100\.21:80[\s\S]*real=192\.0\.2\.10:80 masq/);
    expect(box.actions.find((a) => a.startsWith('chpasswd'))).toMatch(/^chpasswd --encrypted <<< root:\$6\$/);
    expect(out).not.toContain('adminpass1');
  });

  it('Ctrl-C before the confirmation leaves the unit as it was, then offers the wizard again', async () => {
    box = fakeBox();
    const input = new PassThrough();
    const output = new PassThrough();
    let out = '';
    output.on('data', (d) => {
      out += d;
      // Someone sets the unit up on the other console while this one waits.
      if (String(d).includes('start the setup wizard again')) put(STORED_CONFIG, L4);
    });
    input.write(keys.slice(0, -1).map((k) => `${k}\r`).join('') + '\x03');
    await consoleUntilConfigured({ input, output }, deps(box));
    expect(out).toContain('Setup cancelled; nothing was changed.');
    expect(live(INTERFACES_FILE)).toBeUndefined();
    expect(box.actions.filter((a) => !a.startsWith('logger'))).toEqual([]);
  }, 10_000);
});
