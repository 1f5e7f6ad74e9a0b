// lbupdate's install time on the box (issue 12) against a plain dd of the same slot image to the
// inactive root slot, on the same box in the same run: the kvm image booted once under TCG (in
// the lab network, as tls.bench.ts, for the setup wizard), with a "USB stick" that holds the
// build's update archive and the slot image it carries. Each side reads the stick with the page
// cache dropped first and ends with the slot on disk (lbupdate: RAUC's fsync; dd: conv=fsync).
// Alternating rounds, the fastest of each side. Target: lbupdate <= 1.5 x the dd.
// Needs root and `make image BOARD=kvm`.
import { mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, join } from 'node:path';
import { bannerLine } from '../../src/onbox.js';
import { runTool } from '../../src/run.js';
import { BOOT_TIMEOUT, builtImage, consoleOf } from '../e2e/harness.js';
import { createLab, labSetUp, type Lab } from '../e2e/lab.js';
import { startQemu, type Qemu } from '../e2e/qemu.js';

const TARGET = 1.5;
const ROUNDS = 2;
const PASSWORD = 'Bench-pass-1';
const MIB = 1024 * 1024;

const secs = async (f: () => Promise<unknown>) => {
  const t0 = performance.now();
  await f();
  return (performance.now() - t0) / 1000;
};

let lab: Lab | undefined;
let vm: Qemu | undefined;
const tmp = mkdtempSync(join(tmpdir(), 'lbupdatebench-'));
let failed = false;
try {
  const img = builtImage();
  const m = JSON.parse(readFileSync(join(img.outDir, 'manifest.json'), 'utf8')) as { artifacts: { file: string; kind: string }[] };
  const bundle = join(img.outDir, m.artifacts.find((a) => a.kind === 'update')!.file);
  const table = JSON.parse((await runTool('sfdisk', ['-J', img.raw])).stdout) as { partitiontable: { partitions: { name: string; start: number; size: number }[] } };
  const p = table.partitiontable.partitions.find((x) => x.name === 'rootfs-a')!;
  const stickTree = join(tmp, 'stick');
  mkdirSync(stickTree);
  await runTool('cp', [bundle, stickTree]);
  await runTool('dd', [`if=${img.raw}`, `of=${join(stickTree, 'rootfs.ext4')}`, 'bs=1M', `skip=${(p.start * 512) / MIB}`, `count=${(p.size * 512) / MIB}`, 'conv=sparse', 'status=none']);
  const stick = join(tmp, 'stick.img');
  await runTool('mkfs.ext4', ['-q', '-F', '-L', 'LBBENCH', '-d', stickTree, stick, '4G']);
  rmSync(stickTree, { recursive: true, force: true });

  lab = await createLab({ servers: 1, ports: { http: [80], tcp: [], udp: [] } });
  vm = await startQemu({
    firmware: 'bios',
    drives: [{ path: img.qcow2 }, { path: stick, format: 'raw', snapshot: true, interface: 'usb' }],
    memoryMb: 1024,
    cpus: 1,
    name: 'lbupdate-bench',
    nics: { count: 0 },
    netns: lab.ns,
    extraArgs: lab.qemuNetArgs(),
  });
  const con = consoleOf(vm);
  await vm.waitFor(bannerLine({ version: img.version, board: img.board }), BOOT_TIMEOUT);
  await labSetUp(vm, con, PASSWORD);
  const dropCaches = () => con.ok('sync && echo 3 > /proc/sys/vm/drop_caches');
  const tDd: number[] = [];
  const tUpdate: number[] = [];
  for (let round = 0; round < ROUNDS; round++) {
    await con.ok('mkdir -p /mnt/stick && mount -o ro /dev/disk/by-label/LBBENCH /mnt/stick');
    await dropCaches();
    tDd.push(await secs(() => con.ok('dd if=/mnt/stick/rootfs.ext4 of=/dev/disk/by-partlabel/rootfs-b bs=1M conv=fsync status=none', 1_800_000)));
    await con.ok('umount /mnt/stick');
    await dropCaches();
    let out = '';
    tUpdate.push(await secs(async () => (out = await con.ok('lbupdate /dev/disk/by-label/LBBENCH', 1_800_000))));
    if (!/REBOOT NEEDED/.test(out)) throw new Error(`lbupdate did not install:\n${out}`);
    console.log(`  round ${round + 1}: dd ${tDd.at(-1)!.toFixed(1)} s, lbupdate ${tUpdate.at(-1)!.toFixed(1)} s`);
  }
  // Where lbupdate's time goes, each of its steps alone (the cache dropped before the first read).
  const archive = `/mnt/stick/${basename(bundle)}`;
  await con.ok('mount -o ro /dev/disk/by-label/LBBENCH /mnt/stick');
  await dropCaches();
  const steps: [string, number][] = [];
  steps.push(['reading the archive from the stick', await secs(() => con.ok(`cat ${archive} >/dev/null`, 1_800_000))]);
  steps.push(['its sha256 (OpenSSL, cached)', await secs(() => con.ok(`openssl dgst -sha256 ${archive}`, 1_800_000))]);
  steps.push(['rauc info', await secs(() => con.ok(`rauc info --output-format=json ${archive} >/dev/null`, 1_800_000))]);
  steps.push(['rauc install', await secs(() => con.ok(`rauc install ${archive} >/dev/null`, 1_800_000))]);
  await dropCaches();
  steps.push(['sha256sum of the slot image from the stick', await secs(() => con.ok('sha256sum /mnt/stick/rootfs.ext4', 1_800_000))]);
  await con.ok('umount /mnt/stick');
  console.log(`  its steps alone: ${steps.map(([what, t]) => `${what} ${t.toFixed(1)} s`).join('; ')}`);
  const ratio = Math.min(...tUpdate) / Math.min(...tDd);
  console.log(`  the ${(p.size * 512) / MIB} MiB slot image, on one TCG vCPU: plain dd ${Math.min(...tDd).toFixed(1)} s; lbupdate ${Math.min(...tUpdate).toFixed(1)} s (fastest of ${ROUNDS})`);
  failed = ratio > TARGET;
  console.log(`${failed ? 'MISSED' : 'ok'} lbupdate install: ${ratio.toFixed(2)} x a plain dd of the slot image (target <= ${TARGET})`);
} catch (e) {
  console.error(e instanceof Error ? e.message : e);
  failed = true;
} finally {
  await vm?.stop();
  await lab?.destroy();
  rmSync(tmp, { recursive: true, force: true });
}
process.exitCode = failed ? 1 : 0;
