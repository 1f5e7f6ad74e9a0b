import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it, vi } from 'vitest';
import { listBoards, loadBoard, loadRecipe, overlaysFor } from '../../src/board/index.js';
import { aptInstallLine, checkHostNeeds, hostHas, hostPackages, missingHostNeeds } from '../../src/imagebuild/hostneeds.js';
import { planImage } from '../../src/imagebuild/plan.js';
import { main } from '../../src/cli/app.js';
import { FORMAT_NAMES, type Board } from '../../src/board/schema.js';
import { HOST_PACKAGES } from '../../src/run.js';

const repo = join(import.meta.dirname, '..', '..');
const recipe = loadRecipe(repo);
const planOf = (board: Board) => planImage(board, recipe, { version: '1.2.3', sourceDateEpoch: 1_700_000_000, mirror: 'http://deb.example/debian', overlays: overlaysFor(repo, board) });

async function stdoutOf(args: string[]): Promise<{ code: number; out: string }> {
  const lines: string[] = [];
  const spy = vi.spyOn(console, 'log').mockImplementation((...a: unknown[]) => void lines.push(a.join(' ')));
  try {
    return { code: await main(args), out: lines.join('\n') };
  } finally {
    spy.mockRestore();
  }
}

/** What `make image BOARD=<board>` hands to apt-get: the output of the command its recipe runs. */
function makeImageDepsCommand(): string[] {
  const makefile = readFileSync(join(repo, 'Makefile'), 'utf8');
  const image = /^image: (.+)$/m.exec(makefile)?.[1]?.split(/\s+/) ?? [];
  expect(image).toContain('deps-image');
  const recipeLine = /^deps-image:.*\n\t(.+)$/m.exec(makefile)?.[1] ?? '';
  const cmd = /\$\$\(node dist\/lbimage\.mjs (deps --board \$\(BOARD\))\)/.exec(recipeLine)?.[1];
  expect(cmd, 'deps-image runs lbimage deps --board $(BOARD) and installs its output').toBeDefined();
  expect(recipeLine).toContain('$(call ensure_apt,$$pkgs)');
  return cmd!.split(' ');
}

/** Every program named as the literal first argument of runTool in these source folders. */
function toolsCalledIn(dirs: string[]): Map<string, string> {
  const found = new Map<string, string>();
  const walk = (dir: string) => {
    for (const name of readdirSync(dir)) {
      const p = join(dir, name);
      if (statSync(p).isDirectory()) walk(p);
      else if (p.endsWith('.ts')) for (const m of readFileSync(p, 'utf8').matchAll(/runTool\(\s*'([^']+)'/g)) found.set(m[1]!, p);
    }
  };
  for (const d of dirs) walk(join(repo, d));
  return found;
}

describe('what a board\'s build needs on the host', () => {
  it.each(listBoards(repo))('%s: every program and file its plan calls has a package, and make image installs them all', async (name) => {
    const plan = planOf(loadBoard(repo, name));
    expect(plan.hostNeeds.length).toBeGreaterThan(10);
    for (const need of plan.hostNeeds) expect(HOST_PACKAGES[need], `${need} in HOST_PACKAGES (src/run.ts)`).toBeDefined();
    expect(plan.hostPackages).toEqual(hostPackages(plan.hostNeeds));
    const deps = makeImageDepsCommand().map((a) => (a === '$(BOARD)' ? name : a));
    const r = await stdoutOf([...deps, '--repo', repo]);
    expect(r.code).toBe(0);
    const installed = r.out.trim().split(' ');
    expect(installed).toEqual(expect.arrayContaining(plan.hostPackages));
    expect(installed).toHaveLength(plan.hostPackages.length);
  });

  it.each<[string, string[], string[]]>([
    // virt-xml-validate runs xmllint, which libvirt-clients does not pull in (found on a machine without it).
    ['kvm', ['virt-xml-validate', 'xmllint', 'qemu-img', 'mmdebstrap'], ['libvirt-clients', 'libxml2-utils', 'qemu-utils', 'mmdebstrap', 'grub-pc-bin', 'grub-efi-amd64-bin']],
    ['vmware', ['xmllint', 'bmaptool', 'qemu-img'], ['libxml2-utils', 'bmap-tools', 'qemu-utils']],
    ['rack-1u', ['xorriso', 'bmaptool', '/bin/busybox', 'cpio'], ['xorriso', 'bmap-tools', 'busybox-static', 'cpio']],
    ['hyperv', ['qemu-img', 'bmaptool'], ['qemu-utils', 'bmap-tools']],
  ])('%s calls %j, from %j', (name, needs, packages) => {
    const plan = planOf(loadBoard(repo, name));
    expect(plan.hostNeeds).toEqual(expect.arrayContaining(needs));
    expect(plan.hostPackages).toEqual(expect.arrayContaining(packages));
  });

  it('deps --all covers every board; --missing prints nothing on this machine (make deps-host ran)', async () => {
    const all = (await stdoutOf(['deps', '--repo', repo, '--all'])).out.trim().split(' ');
    for (const name of listBoards(repo)) expect(all).toEqual(expect.arrayContaining(planOf(loadBoard(repo, name)).hostPackages));
    // and what a rootless build enters its user namespace with (the rootless test builds that way)
    expect(all).toEqual(expect.arrayContaining(['uidmap', 'util-linux']));
    expect(await stdoutOf(['deps', '--repo', repo, '--all', '--missing'])).toEqual({ code: 0, out: '' });
  });

  it('a board without the libvirt format does not need libvirt-clients', () => {
    expect(planOf(loadBoard(repo, 'rack-1u')).hostPackages).not.toContain('libvirt-clients');
    expect(planOf(loadBoard(repo, 'vmware')).hostPackages).not.toContain('xorriso');
  });

  it('every program the build and the formats run is in the plan of a board asking for every format', () => {
    const all: Board = { ...loadBoard(repo, 'kvm'), formats: [...FORMAT_NAMES] };
    const needs = new Set(planOf(all).hostNeeds);
    // git only reads SOURCE_DATE_EPOCH when there is a checkout; its absence is an answer, not a failure.
    const called = [...toolsCalledIn(['src/imagebuild', 'src/formats'])].filter(([tool]) => tool !== 'git');
    expect(called.length).toBeGreaterThan(15);
    for (const [tool, file] of called) expect(needs.has(tool), `${tool} (called in ${file}) is in STEP_HOST_NEEDS or FORMAT_HOST_NEEDS`).toBe(true);
  });
});

describe('checkHostNeeds', () => {
  it('passes on this machine for every board (make deps-host ran)', () => {
    for (const name of listBoards(repo)) expect(() => checkHostNeeds(planOf(loadBoard(repo, name)).hostNeeds)).not.toThrow();
  });

  it('names everything missing at once, with one apt-get line', () => {
    const run = () => checkHostNeeds(['cp', 'xorriso', 'bmaptool', 'sfdisk'], { path: '/nonexistent', root: false });
    expect(run).toThrow(
      expect.objectContaining({
        code: 'E_TOOL_MISSING',
        message: 'this build needs cp, xorriso, bmaptool, not found on this machine',
        hint: 'install them: sudo apt-get update && sudo apt-get install -y --no-install-recommends bmap-tools coreutils xorriso (make image does this as root)',
      }),
    );
  });

  it('a program the table does not know is a programming error, not a user\'s', () => {
    expect(() => hostPackages(['cp', 'frobnicate'])).toThrow(/no Debian package known for frobnicate: add it to HOST_PACKAGES in src\/run\.ts/);
  });

  it.each<[string[], boolean, string]>([
    [['bmap-tools', 'libvirt-clients'], true, 'apt-get update && apt-get install -y --no-install-recommends bmap-tools libvirt-clients'],
    [['xorriso'], false, 'sudo apt-get update && sudo apt-get install -y --no-install-recommends xorriso'],
  ])('aptInstallLine(%j, root=%s)', (pkgs, root, line) => {
    expect(aptInstallLine(pkgs, root)).toBe(line);
  });

  it('looks programs up on PATH and in the sbin folders; files by path', () => {
    expect(hostHas('cp', '/usr/bin')).toBe(true);
    expect(hostHas('cp', '/nonexistent')).toBe(false);
    expect(hostHas('sfdisk', '/nonexistent')).toBe(true);
    expect(hostHas('/usr/lib/grub/i386-pc/kernel.img')).toBe(true);
    expect(missingHostNeeds(['cp', 'xorriso', '/no/such'], '/usr/bin')).toEqual(['/no/such']);
  });
});
