import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { listBoards, loadBoard, loadRecipe } from '../../src/board/index.js';
import { isLbError } from '../../src/errors.js';

const repo = join(import.meta.dirname, '..', '..');

function fixtureRepo(boards: Record<string, string>): string {
  const dir = mkdtempSync(join(tmpdir(), 'lbboards-'));
  mkdirSync(join(dir, 'boards'));
  for (const [name, text] of Object.entries(boards)) writeFileSync(join(dir, 'boards', `${name}.yaml`), text);
  return dir;
}

function errorOf(f: () => unknown): { code: string; message: string } {
  try {
    f();
  } catch (e) {
    if (isLbError(e)) return { code: e.code, message: e.message };
    throw e;
  }
  throw new Error('expected an error');
}

const base = `description: base
kind: virtual
firmware: both
consoles: [{ tty: tty0 }, { tty: ttyS0, baud: 115200 }]
nic: { model: virtio-net-pci, count: 4 }
cpus: 2
memory_mib: 4096
disk_gib: 20
formats: [qcow2]
`;

describe('the boards in boards/', () => {
  it('are the four targets of the guides', () => {
    expect(listBoards(repo)).toEqual(expect.arrayContaining(['hyperv', 'kvm', 'rack-1u', 'vmware']));
  });

  it.each(listBoards(repo))('%s loads and validates', (name) => {
    const b = loadBoard(repo, name);
    expect(b.name).toBe(name);
    expect(b.consoles.some((c) => c.tty === 'ttyS0' && c.baud === 115200)).toBe(true);
  });

  it.each([
    ['kvm', { cpus: 2, memory_mib: 4096, disk_gib: 20, nics: 4, model: 'virtio-net-pci', firmware: 'both' }],
    ['vmware', { cpus: 2, memory_mib: 4096, disk_gib: 20, nics: 4, model: 'vmxnet3', firmware: 'both' }],
    ['hyperv', { cpus: 2, memory_mib: 4096, disk_gib: 20, nics: 4, model: 'hv_netvsc', firmware: 'both' }],
  ])('%s is the virtual appliance the guides describe', (name, want) => {
    const b = loadBoard(repo, name);
    expect({ cpus: b.cpus, memory_mib: b.memory_mib, disk_gib: b.disk_gib, nics: b.nic.count, model: b.nic.model, firmware: b.firmware }).toEqual(want);
  });

  it('rack-1u: ttyS0 and VGA consoles, ttyS1 kept for heartbeat, eth0 internal Gb0, eth1 external Gb1', () => {
    const b = loadBoard(repo, 'rack-1u');
    expect(b.consoles.map((c) => c.tty)).toEqual(['tty1', 'ttyS0']);
    expect(b.heartbeat_serial).toBe('ttyS1');
    expect(b.nic.names).toEqual([
      { name: 'eth0', label: 'Gb0', role: 'internal' },
      { name: 'eth1', label: 'Gb1', role: 'external' },
    ]);
    expect(b.firmware).toBe('both');
    expect(b.formats).toContain('raw');
  });

  it('vmware extends kvm: its own fields win, the rest is inherited', () => {
    const b = loadBoard(repo, 'vmware');
    expect(b.chain).toEqual(['kvm', 'vmware']);
    expect(b.vmware?.hardware_version).toBe('vmx-13');
    expect(b.formats).toEqual(['ova']);
    expect(b.kernel_modules).toEqual(loadBoard(repo, 'kvm').kernel_modules);
  });

  it('the recipe validates and has the appliance packages', () => {
    const r = loadRecipe(repo);
    expect(r.packages).toEqual(expect.arrayContaining(['systemd', 'linux-image-amd64', 'haproxy', 'ipvsadm', 'ldirectord', 'heartbeat', 'nodejs', 'iproute2', 'ifupdown', 'nftables', 'openssh-server', 'arping']));
    expect(r.path_excludes).toEqual(expect.arrayContaining(['/usr/share/man/*', '/usr/share/doc/*', '/usr/share/locale/*']));
  });
});

describe('bad board files', () => {
  it.each<[string, Record<string, string>, string, RegExp]>([
    ['an unknown board', { kvm: base }, 'nope', /unknown board 'nope'/],
    ['a bad field, with file:line:col', { kvm: base.replace('cpus: 2', 'cpus: two') }, 'kvm', /boards\/kvm\.yaml:6:7: cpus: .*integer/],
    ['an unknown field', { kvm: `${base}colour: red\n` }, 'kvm', /kvm\.yaml:10:1: .*colour/],
    ['a bad format', { kvm: base.replace('[qcow2]', '[qcow2, floppy]') }, 'kvm', /kvm\.yaml:9:18: formats\[1\]: "floppy" is not allowed; must be one of/],
    ['YAML syntax', { kvm: `${base}nic: [\n` }, 'kvm', /kvm\.yaml:\d+:\d+: /],
    ['extends of an unknown board', { v: 'extends: nobody\n' }, 'v', /v\.yaml:1:10: extends: unknown board 'nobody'/],
    ['missing fields', { v: 'description: only this\n' }, 'v', /v\.yaml:1:1: missing kind, firmware, consoles, nic, cpus, memory_mib, disk_gib, formats/],
    ['an extends loop', { a: 'extends: b\n', b: 'extends: a\n' }, 'a', /extends loop/],
    ['a heartbeat serial port that is a console', { kvm: `${base}heartbeat_serial: ttyS0\n` }, 'kvm', /kvm\.yaml:10:19: heartbeat_serial: ttyS0 is also console 1 \(consoles\[1\]\)/],
    [
      'a console that is the base board\'s heartbeat serial port, located where it was set',
      { kvm: `${base}heartbeat_serial: ttyS1\n`, v: 'extends: kvm\nconsoles: [{ tty: ttyS1 }]\n' },
      'v',
      /kvm\.yaml:10:19: heartbeat_serial: ttyS1 is also console 0/,
    ],
    [
      'a NIC name beyond the count, and one named twice',
      { kvm: base.replace('count: 4 }', 'count: 2, names: [{ name: eth2, label: a, role: spare }, { name: eth0, label: b, role: internal }, { name: eth0, label: c, role: external }] }') },
      'kvm',
      /kvm\.yaml:5:\d+: nic\.names\[0\]\.name: eth2 does not exist on a board with 2 NICs \(eth0\.\.eth1\)\n.*kvm\.yaml:5:\d+: nic\.names\[2\]\.name: eth0 is named twice/,
    ],
  ])('%s', (_what, boards, name, message) => {
    const err = errorOf(() => loadBoard(fixtureRepo(boards), name));
    expect(err.message).toMatch(message);
  });
});
