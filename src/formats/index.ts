import { existsSync, mkdirSync, statSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import type { Board } from '../board/schema.js';
import { LbError } from '../errors.js';
import { runTool } from '../run.js';
import { fsyncPath, tempPath } from '../fsutil.js';
import { mapImage } from './bmap.js';
import { makeInstallerIso } from './iso.js';
import { renderLibvirtDomain } from './libvirt.js';
import { makeOvfFolder, packOva } from './ova.js';
import { artifactNames, boardForFormats, planFormats, type Artifact, type FormatKind, type FormatsBoard } from './plan.js';
import { convertDisk } from './qemuimg.js';
import { pinVhdxIds } from './vhdx.js';
import { produceAtomically } from './tmpfile.js';
import { validateLibvirtDomain } from './validate.js';
import { makeUpdateBundle, type BundleInput } from '../update/bundle.js';

export { planFormats, boardForFormats, artifactNames, FORMAT_KINDS, FORMAT_DISK_LIMITS, isFormatKind, DEFAULT_VMX } from './plan.js';
export type { Artifact, FormatKind, FormatPlan, FormatsBoard, Firmware } from './plan.js';
export { renderOvf, renderManifest, manifestLine } from './ovf.js';
export { renderLibvirtDomain } from './libvirt.js';
export { renderInstaller, mediumId, INSTALLER_KERNEL_ARGS } from './iso.js';
export { QEMU_IMG_CONVERT, convertArgs, qemuImgInfo } from './qemuimg.js';
export { ovfSchemaPath, validateOvf, validateLibvirtDomain, checkDisk } from './validate.js';

export interface ProduceFormatsInput {
  /** A board file, or its narrow formats view (tests). */
  board: Board | FormatsBoard;
  /** The built raw disk image (sparse). */
  rawImage: string;
  outDir: string;
  /** lb-<version>-<board> */
  baseName: string;
  version: string;
  sourceDateEpoch: number;
  /** The cached rootfs tree: the ISO installer boots its kernel with its storage drivers. */
  rootfsDir?: string;
  /** The offline update archive: which part of the raw disk is the root slot, how to sign. */
  update?: Omit<BundleInput, 'rawImage' | 'outDir' | 'sourceDateEpoch'>;
}

function isFormatsBoard(b: Board | FormatsBoard): b is FormatsBoard {
  return 'memoryMiB' in b;
}

/**
 * Produces every artifact the board asks for from the raw image and returns them for
 * SHA256SUMS and manifest.json. Each artifact is built under a temp name and renamed into place
 * when complete and checked; a failure leaves no partial file at a final path.
 */
export async function produceFormats(input: ProduceFormatsInput): Promise<Artifact[]> {
  const board = isFormatsBoard(input.board) ? input.board : boardForFormats(input.board);
  if (!existsSync(input.rawImage)) {
    throw new LbError(`raw image ${input.rawImage} does not exist`, { code: 'E_FORMAT_INPUT', hint: 'build the image first (make image)' });
  }
  const size = statSync(input.rawImage).size;
  const plan = planFormats(board, size);
  if (plan.kinds.includes('iso') && input.rootfsDir === undefined) {
    throw new LbError(`board ${board.name}: the iso format needs the rootfs tree for the installer's kernel`, {
      code: 'E_ISO_NO_KERNEL',
      hint: 'pass rootfsDir (the cached rootfs of the build)',
    });
  }
  mkdirSync(input.outDir, { recursive: true });
  const names = artifactNames(input.baseName);
  const out = (f: string) => join(input.outDir, f);
  const mtime = new Date(input.sourceDateEpoch * 1000);
  // One bmap serves the bmap artifact, the installer's range table and the digest that pins the
  // VMDK and VHDX ids: bmaptool reads only the image's data, never its holes. Asked for only
  // when needed (a conversion runs while the bmap step maps).
  let mapped: ReturnType<typeof mapImage> | undefined;
  const raw = { path: resolve(input.rawImage), size, mapped: () => (mapped ??= mapImage(input.rawImage, `${tempPath(out(names.bmap))}.map`)) };

  const steps: Record<FormatKind, () => Promise<Artifact[]>> = {
    raw: async () => {
      if (resolve(out(names.raw)) !== raw.path) {
        await produceAtomically(out(names.raw), (tmp) => runTool('cp', ['--sparse=always', '--reflink=auto', raw.path, tmp], { stage: 'copy raw image' }));
      }
      return [{ path: out(names.raw), kind: 'raw' }];
    },
    bmap: async () => {
      const { bmapXml } = await raw.mapped();
      await produceAtomically(out(names.bmap), async (tmp) => writeFileSync(tmp, bmapXml));
      return [{ path: out(names.bmap), kind: 'bmap' }];
    },
    qcow2: async () => {
      await produceAtomically(out(names.qcow2), (tmp) => convertDisk('qcow2', raw.path, tmp));
      return [{ path: out(names.qcow2), kind: 'qcow2' }];
    },
    libvirt: async () => {
      await produceAtomically(out(names.libvirt), async (tmp) => {
        writeFileSync(tmp, renderLibvirtDomain(board, input.version, names.qcow2));
        await validateLibvirtDomain(tmp);
      });
      return [{ path: out(names.libvirt), kind: 'libvirt' }];
    },
    ova: async () => {
      const dir = out(names.ovfDir);
      const ovfNames = { ovf: names.ovf, mf: names.mf, vmdk: names.vmdk };
      await makeOvfFolder(board, input.version, raw.path, async () => (await raw.mapped()).digest, dir, ovfNames, mtime);
      await packOva(dir, ovfNames, out(names.ova), mtime);
      return [
        { path: out(names.ova), kind: 'ova' },
        { path: join(dir, names.ovf), kind: 'ovf' },
        { path: join(dir, names.mf), kind: 'ovf-manifest' },
        { path: join(dir, names.vmdk), kind: 'vmdk' },
      ];
    },
    vhdx: async () => {
      await produceAtomically(out(names.vhdx), async (tmp) => {
        await convertDisk('vhdx', raw.path, tmp);
        pinVhdxIds(tmp, (await raw.mapped()).digest);
      });
      return [{ path: out(names.vhdx), kind: 'vhdx' }];
    },
    iso: async () => {
      await makeInstallerIso(
        { board: board.name, version: input.version, raw: { path: raw.path, ...(await raw.mapped()) }, rootfsDir: input.rootfsDir!, sourceDateEpoch: input.sourceDateEpoch },
        out(names.iso),
      );
      return [{ path: out(names.iso), kind: 'iso' }];
    },
    update: async () => {
      if (!input.update) throw new LbError(`board ${board.name}: the update format needs the root slot and the signing key`, { code: 'E_UPDATE_NO_INPUT', hint: 'pass update (the build pipeline does)' });
      return makeUpdateBundle({ ...input.update, rawImage: raw.path, outDir: input.outDir, sourceDateEpoch: input.sourceDateEpoch });
    },
  };

  // Two at a time: the conversions are single-threaded and this is a two-core build host.
  const results = await runLimited(plan.kinds.map((k) => steps[k]), 2);
  fsyncPath(input.outDir);
  return results.flat();
}

/** Runs tasks with at most `limit` in flight; results in task order; the first failure wins after all settle. */
async function runLimited<T>(tasks: (() => Promise<T>)[], limit: number): Promise<T[]> {
  const results: T[] = new Array(tasks.length);
  const errors: unknown[] = [];
  let next = 0;
  const worker = async () => {
    while (next < tasks.length) {
      const i = next++;
      try {
        results[i] = await tasks[i]!();
      } catch (e) {
        errors.push(e);
        next = tasks.length; // start nothing new once something failed
      }
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, tasks.length) }, worker));
  if (errors.length > 0) throw errors[0];
  return results;
}
