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
  ])('%s', (_what, boards, name, message) => {
    const err = errorOf(() => loadBoard(fixtureRepo(boards), name));
    expect(err.message).toMatch(message);
  });
});
