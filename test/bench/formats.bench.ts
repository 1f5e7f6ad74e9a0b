/**
 * Deliverables speed (issue 5): producing every format from an already-built raw image, against
 * the plain commands that make the same files, run one after another in the same run:
 *   cp --sparse, bmaptool create, qemu-img convert (qcow2 -c, vmdk streamOptimized, vhdx),
 *   tar of the OVA, zstd of the image and xorriso of a tree holding it and the kernel.
 * Target: produceFormats <= 1.3 x the plain commands. Prints every artifact's size.
 * Input: out/kvm (make image BOARD=kvm) and its cached rootfs, or LBIMAGE_BENCH_RAW + LBIMAGE_BENCH_ROOTFS.
 */
import { mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync, copyFileSync, readdirSync } from 'node:fs';
import { homedir, tmpdir } from 'node:os';
import { join } from 'node:path';
import { convertArgs, produceFormats } from '../../src/formats/index.js';
import { findKernel } from '../../src/formats/installer/modules.js';
import { runTool } from '../../src/run.js';

const repo = process.cwd();
const TARGET = 1.3;
const SDE = 1_700_000_000;

function input(): { raw: string; rootfs: string; version: string } {
  if (process.env.LBIMAGE_BENCH_RAW && process.env.LBIMAGE_BENCH_ROOTFS) {
    return { raw: process.env.LBIMAGE_BENCH_RAW, rootfs: process.env.LBIMAGE_BENCH_ROOTFS, version: '0.0.0' };
  }
  const m = JSON.parse(readFileSync(join(repo, 'out/kvm/manifest.json'), 'utf8')) as { rawImage: string; rootfsKey: string; version: string };
  const cache = process.env.LBIMAGE_CACHE ?? join(process.env.XDG_CACHE_HOME || join(homedir(), '.cache'), 'lbimage');
  return { raw: join(repo, 'out/kvm', m.rawImage), rootfs: join(cache, 'rootfs', m.rootfsKey, 'tree'), version: m.version };
}

const secs = async (f: () => Promise<unknown>) => {
  const t0 = performance.now();
  await f();
  return (performance.now() - t0) / 1000;
};
const MB = (b: number) => `${(b / 1e6).toFixed(1)} MB`;

const { raw, rootfs, version } = input();
const work = mkdtempSync(join(process.env.LBIMAGE_BENCH_DIR ?? tmpdir(), 'lbimage-bench-formats-'));
try {
  const board = {
    name: 'bench', formats: ['raw', 'bmap', 'qcow2', 'libvirt', 'ova', 'vhdx', 'iso'], firmware: 'both' as const,
    cpus: 2, memoryMiB: 4096, nic: { model: 'vmxnet3', count: 4 }, vmwareHardwareVersion: 'vmx-13', libvirtMachine: 'q35',
  };
  const out = join(work, 'ours');
  const tOurs = await secs(async () => {
    const arts = await produceFormats({ board, rawImage: raw, outDir: out, baseName: `lb-${version}-bench`, version, sourceDateEpoch: SDE, rootfsDir: rootfs });
    console.log('  artifacts:');
    for (const a of arts) {
      const st = statSync(a.path);
      // a sparse raw: its apparent size and what it occupies
      const used = st.blocks * 512 < st.size ? ` (${MB(st.blocks * 512)} allocated)` : '';
      console.log(`    ${a.kind.padEnd(13)} ${MB(st.size).padStart(10)}  ${a.path.slice(out.length + 1)}${used}`);
    }
  });

  const plain = join(work, 'plain');
  mkdirSync(join(plain, 'iso/boot'), { recursive: true });
  const k = findKernel(rootfs);
  const tPlain = await secs(async () => {
    await runTool('cp', ['--sparse=always', raw, join(plain, 'disk.img')]);
    await runTool('bmaptool', ['create', '-o', join(plain, 'disk.bmap'), raw]);
    await runTool('qemu-img', convertArgs('qcow2', raw, join(plain, 'disk.qcow2')));
    await runTool('qemu-img', convertArgs('vmdk', raw, join(plain, 'disk.vmdk')));
    writeFileSync(join(plain, 'disk.ovf'), '<Envelope/>\n');
    await runTool('tar', ['-cf', join(plain, 'disk.ova'), '-C', plain, 'disk.ovf', 'disk.vmdk']);
    await runTool('qemu-img', convertArgs('vhdx', raw, join(plain, 'disk.vhdx')));
    copyFileSync(k.vmlinuz, join(plain, 'iso/boot/vmlinuz'));
    await runTool('zstd', ['-q', '-6', '-T0', raw, '-o', join(plain, 'iso/image.zst')]);
    await runTool('xorriso', ['-as', 'mkisofs', '-iso-level', '3', '-r', '-o', join(plain, 'disk.iso'), join(plain, 'iso')]);
  });
  const ratio = tOurs / tPlain;
  console.log(`  plain commands: ${tPlain.toFixed(1)} s; produceFormats: ${tOurs.toFixed(1)} s; ratio ${ratio.toFixed(2)} (target <= ${TARGET})`);
  for (const f of readdirSync(plain).filter((n) => n.startsWith('disk.'))) console.log(`    plain ${f.padEnd(10)} ${MB(statSync(join(plain, f)).size).padStart(10)}`);
  console.log(`${ratio <= TARGET ? 'ok' : 'MISSED'} formats: ${ratio.toFixed(2)} x the plain commands`);
  if (ratio > TARGET) process.exitCode = 1;
} finally {
  rmSync(work, { recursive: true, force: true });
}
