/**
 * lbupdate's checks against real update archives (made by the build's makeUpdateBundle with real
 * rauc and mksquashfs) and real `rauc info` with a system.conf and keyring in a temp box root:
 * every bad input of issue 12 is refused with its own message before anything is written (RAUC's
 * install is never reached, no pending update is recorded, the stored config is untouched).
 * The install itself and the slot switch are proven by booting (test/e2e/update.test.ts).
 */
import { copyFileSync, existsSync, mkdirSync, readFileSync, rmSync, truncateSync, writeFileSync, openSync, writeSync, closeSync, statSync } from 'node:fs';
import { spawn, spawnSync } from 'node:child_process';
import { dirname, join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { STORED_CONFIG, UPDATE_STATE_DIR } from '../../src/onbox.js';
import { runTool } from '../../src/run.js';
import { lbupdate, type UpdateDeps } from '../../src/supervisor/update.js';
import { readPending } from '../../src/supervisor/update-state.js';
import { isLbError } from '../../src/errors.js';
import { makeBoxRoot, makeBundle, makeKeyPair, makeRawDisk, tempDir, type KeyPair } from './fixture.js';

const work = tempDir('lbupdate-input');
let release: KeyPair;
let other: KeyPair;
const b: Record<string, { bundle: string; checksum: string }> = {};

beforeAll(async () => {
  release = await makeKeyPair(work, 'release');
  other = await makeKeyPair(work, 'other');
  const disk = await makeRawDisk(work, 'v2');
  b.good = await makeBundle(join(work, 'good'), disk, { board: 'kvm', version: '0.2.0', signer: release });
  b.older = await makeBundle(join(work, 'older'), disk, { board: 'kvm', version: '0.0.9', signer: release });
  b.otherKey = await makeBundle(join(work, 'other-key'), disk, { board: 'kvm', version: '0.2.0', signer: other });
  b.otherBoard = await makeBundle(join(work, 'other-board'), disk, { board: 'vmware', version: '0.2.0', signer: release });
}, 120_000);
afterAll(() => rmSync(work, { recursive: true, force: true }));

interface Box {
  deps: UpdateDeps;
  installs: string[];
  lines: string[];
  root: string;
}

function box(): Box {
  const { root, raucArgs } = makeBoxRoot(work, { version: '0.1.0', board: 'kvm', keyringCert: release.cert });
  mkdirSync(join(root, 'var/lib/lbimage/config'), { recursive: true });
  writeFileSync(join(root, STORED_CONFIG), 'version: 1\nhostname: lb\n');
  const installs: string[] = [];
  const lines: string[] = [];
  return { root, installs, lines, deps: { root, run: runTool, log: (l) => lines.push(l), raucArgs, install: async (a) => void installs.push(a) } };
}

/** A copy of a file under a name, in its own folder (what lands on the unit). */
function copyAs(src: string, dir: string, name = src.split('/').pop()!): string {
  mkdirSync(dir, { recursive: true });
  const dst = join(dir, name);
  copyFileSync(src, dst);
  return dst;
}

async function refused(t: Box, opts: Parameters<typeof lbupdate>[0]): Promise<{ code: string; message: string; hint?: string }> {
  const stored = readFileSync(join(t.root, STORED_CONFIG), 'utf8');
  let err: unknown;
  try {
    await lbupdate(opts, t.deps);
  } catch (e) {
    err = e;
  }
  expect(isLbError(err), String(err)).toBe(true);
  expect(t.installs).toEqual([]);
  expect(readPending(t.root)).toBeUndefined();
  expect(existsSync(join(t.root, UPDATE_STATE_DIR, 'trial-B'))).toBe(false);
  expect(readFileSync(join(t.root, STORED_CONFIG), 'utf8')).toBe(stored);
  const e = err as { code: string; message: string; hint?: string };
  return { code: e.code, message: e.message, ...(e.hint ? { hint: e.hint } : {}) };
}

describe('lbupdate refuses bad input before anything is written', () => {
  it('accepts the good archive with its checksum (sha256sum -c agrees), then hands it to RAUC install', async () => {
    const sums = await runTool('sha256sum', ['-c', b.good!.checksum.split('/').pop()!], { cwd: join(work, 'good') });
    expect(sums.stdout).toMatch(/lb-0\.2\.0-kvm\.raucb: OK/);
    const t = box();
    expect(await lbupdate({ archive: b.good!.bundle, checksum: b.good!.checksum }, t.deps)).toBe(0);
    expect(t.installs).toEqual([b.good!.bundle]);
    expect(t.lines.join('\n')).toMatch(/checksum OK[\s\S]*signature OK: lbimage-kvm 0\.2\.0[\s\S]*update 0\.1\.0 \(slot A\) -> 0\.2\.0 \(slot B\)[\s\S]*REBOOT NEEDED/);
    expect(readPending(t.root)).toMatchObject({ state: 'installed', from: { version: '0.1.0', slot: 'A' }, to: { version: '0.2.0', slot: 'B' } });
  });

  it('a checksum file that does not match', async () => {
    const t = box();
    const sum = copyAs(b.good!.checksum, join(work, 'badsum'));
    writeFileSync(sum, readFileSync(sum, 'utf8').replace(/^./, (c) => (c === '0' ? '1' : '0')));
    const archive = copyAs(b.good!.bundle, join(work, 'badsum'));
    const e = await refused(t, { archive, checksum: sum });
    expect(e.code).toBe('E_UPDATE_CHECKSUM');
    expect(e.message).toMatch(/checksum mismatch/);
  });

  it('a checksum file naming another file', async () => {
    const t = box();
    const sum = copyAs(b.older!.checksum, join(work, 'othername'));
    const e = await refused(t, { archive: b.good!.bundle, checksum: sum });
    expect(e.code).toBe('E_UPDATE_CHECKSUM_NAME');
    expect(e.message).toMatch(/is the checksum of lb-0\.0\.9-kvm\.raucb, not of lb-0\.2\.0-kvm\.raucb/);
  });

  it('a checksum file that is not one', async () => {
    const t = box();
    const sum = join(work, 'garbage.sha256');
    writeFileSync(sum, 'hello\n');
    expect((await refused(t, { archive: b.good!.bundle, checksum: sum })).code).toBe('E_UPDATE_CHECKSUM_FORMAT');
  });

  it('a bundle signed by another key', async () => {
    const e = await refused(box(), { archive: b.otherKey!.bundle, checksum: b.otherKey!.checksum });
    expect(e.code).toBe('E_UPDATE_REFUSED');
    expect(e.message).toMatch(/not an update archive this unit accepts[\s\S]*(signature|verif|certificate)/i);
  });

  it('an unsigned bundle (the squashfs payload alone)', async () => {
    const dir = join(work, 'unsigned');
    mkdirSync(join(dir, 'content'), { recursive: true });
    writeFileSync(join(dir, 'content', 'manifest.raucm'), '[update]\ncompatible=lbimage-kvm\nversion=0.2.0\n');
    const archive = join(dir, 'lb-0.2.0-kvm.raucb');
    await runTool('mksquashfs', [join(dir, 'content'), archive, '-quiet', '-noappend']);
    expect((await refused(box(), { archive })).code).toBe('E_UPDATE_REFUSED');
  });

  it('a truncated bundle, with and without its checksum', async () => {
    const archive = copyAs(b.good!.bundle, join(work, 'truncated'));
    truncateSync(archive, Math.floor(statSync(archive).size / 2));
    const sum = copyAs(b.good!.checksum, join(work, 'truncated'));
    expect((await refused(box(), { archive, checksum: sum })).code).toBe('E_UPDATE_CHECKSUM');
    const e = await refused(box(), { archive });
    expect(e.code).toBe('E_UPDATE_REFUSED');
    expect(e.message).toMatch(/Invalid bundle format|signature|size/i);
  });

  it('one flipped byte in the payload: the checksum catches it', async () => {
    const archive = copyAs(b.good!.bundle, join(work, 'flipped'));
    const fd = openSync(archive, 'r+');
    const at = 4096 + 17;
    const one = Buffer.alloc(1);
    (await import('node:fs')).readSync(fd, one, 0, 1, at);
    one[0] = one[0]! ^ 0x01;
    writeSync(fd, one, 0, 1, at);
    closeSync(fd);
    const sum = copyAs(b.good!.checksum, join(work, 'flipped'));
    expect((await refused(box(), { archive, checksum: sum })).code).toBe('E_UPDATE_CHECKSUM');
  });

  it('a bundle for another board', async () => {
    const e = await refused(box(), { archive: b.otherBoard!.bundle, checksum: b.otherBoard!.checksum });
    expect(e.code).toBe('E_UPDATE_BOARD');
    expect(e.message).toBe("the archive is for 'lbimage-vmware', this unit is 'lbimage-kvm'");
  });

  it('an older version, unless --allow-downgrade', async () => {
    const e = await refused(box(), { archive: b.older!.bundle, checksum: b.older!.checksum });
    expect(e.code).toBe('E_UPDATE_DOWNGRADE');
    expect(e.message).toBe('the archive holds version 0.0.9, older than the running 0.1.0');
    expect(e.hint).toMatch(/--allow-downgrade/);
    const t = box();
    expect(await lbupdate({ archive: b.older!.bundle, checksum: b.older!.checksum, allowDowngrade: true }, t.deps)).toBe(0);
    expect(t.installs).toEqual([b.older!.bundle]);
  });

  it('a file that is not a bundle at all', async () => {
    const archive = join(work, 'notes.raucb');
    writeFileSync(archive, 'these are not the bytes you are looking for\n');
    const e = await refused(box(), { archive });
    expect(e.code).toBe('E_UPDATE_REFUSED');
    expect(e.message).toMatch(/Invalid bundle format/);
  });

  it('an archive copied onto a full disk (cut short where the space ran out)', async () => {
    const archive = copyAs(b.good!.bundle, join(work, 'full'));
    truncateSync(archive, 64 * 1024);
    const sum = copyAs(b.good!.checksum, join(work, 'full'));
    const e = await refused(box(), { archive, checksum: sum });
    expect(e.code).toBe('E_UPDATE_CHECKSUM');
    expect(e.hint).toMatch(/free space/);
  });

  it('a missing archive', async () => {
    expect((await refused(box(), { archive: join(work, 'nope.raucb') })).code).toBe('E_UPDATE_INPUT');
  });

  it('while an apply or another update holds the lock (flock), and not after it is released', async () => {
    const t = box();
    const lock = join(t.root, 'run/lbimage/apply.lock');
    mkdirSync(dirname(lock), { recursive: true });
    writeFileSync(lock, '4242\n');
    // Another process holds the lock as lbapply does (flock(2) on the file), until we kill it.
    const holder = spawn('flock', ['--no-fork', '--exclusive', lock, 'sleep', '60'], { stdio: 'ignore' });
    try {
      while (spawnSync('flock', ['--nonblock', '--exclusive', lock, 'true']).status === 0) await new Promise((r) => setTimeout(r, 20));
      const e = await refused(t, { archive: b.good!.bundle });
      expect(e.code).toBe('E_UPDATE_BUSY');
      expect(e.message).toMatch(/an apply or another lbupdate \(pid 4242\) is running/);
    } finally {
      holder.kill('SIGKILL');
      await new Promise((r) => holder.once('exit', r));
    }
    // A pid left in the file by a finished holder means nothing: the lock is free.
    expect(spawnSync('flock', ['--nonblock', '--exclusive', lock, 'true']).status).toBe(0);
  });
});

describe('lbupdate on the active unit of an HA pair', () => {
  it('warns and asks; nothing happens without "yes"', async () => {
    const t = box();
    const example = readFileSync(join(import.meta.dirname, '..', '..', 'examples', 'ha-pair-primary.yaml'), 'utf8');
    writeFileSync(join(t.root, STORED_CONFIG), example);
    const floating = /floating_ips:\s*\n\s*-\s*(?:\{\s*)?address:\s*([0-9.]+)/.exec(example)![1]!;
    // this unit holds the floating IP: it is the active one
    const run: typeof runTool = async (cmd, args, o) =>
      cmd === 'ip' ? { stdout: `2: eth0    inet ${floating}/24 scope global eth0\n`, stderr: '', exitCode: 0 } : runTool(cmd, args, o);
    const asked: string[] = [];
    const no = { ...t.deps, run, ask: async (q: string) => (asked.push(q), 'no') };
    expect(await lbupdate({ archive: b.good!.bundle, checksum: b.good!.checksum }, no)).toBe(1);
    expect(t.lines.join('\n')).toMatch(/WARNING: this is the ACTIVE unit of an HA pair[\s\S]*Update the passive unit first, fail over, then update this one\.[\s\S]*nothing was changed/);
    expect(asked).toHaveLength(1);
    expect(t.installs).toEqual([]);
    expect(readPending(t.root)).toBeUndefined();
    expect(await lbupdate({ archive: b.good!.bundle, checksum: b.good!.checksum }, { ...no, ask: async () => 'yes' })).toBe(0);
    expect(t.installs).toEqual([b.good!.bundle]);
  });
});

