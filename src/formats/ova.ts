import { chmodSync, mkdirSync, statSync, utimesSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import * as tar from 'tar';
import { LbError } from '../errors.js';
import { sha256File } from '../hash.js';
import { renderManifest, renderOvf } from './ovf.js';
import { USTAR_MAX_MEMBER, type FormatsBoard } from './plan.js';
import { convertDisk, pinVmdkCid, qemuImgInfo } from './qemuimg.js';
import { produceAtomically } from './tmpfile.js';
import { validateOvf } from './validate.js';

export interface OvfNames {
  ovf: string;
  mf: string;
  vmdk: string;
}

/**
 * Makes the unpacked OVF folder: streamOptimized VMDK, descriptor, manifest; the descriptor is
 * checked against the DMTF schema before the folder appears at `dir`.
 */
export async function makeOvfFolder(
  board: FormatsBoard,
  version: string,
  raw: string,
  /** The raw image's digest: the content id is derived from it, so the same image gives the same VMDK. */
  digest: () => Promise<string>,
  dir: string,
  names: OvfNames,
  mtime: Date,
): Promise<void> {
  await produceAtomically(dir, async (tmp) => {
    mkdirSync(tmp);
    const vmdk = join(tmp, names.vmdk);
    await convertDisk('vmdk', raw, vmdk);
    pinVmdkCid(vmdk, (await digest()).slice(0, 8));
    const fileSize = statSync(vmdk).size;
    if (fileSize > USTAR_MAX_MEMBER) {
      throw new LbError(`board ${board.name}: the VMDK is ${fileSize} bytes, more than an OVA (USTAR) member can hold`, {
        code: 'E_FORMAT_LIMIT',
        hint: 'USTAR members stay below 8 GiB; shrink the disk contents or drop the ova format',
      });
    }
    const capacity = (await qemuImgInfo(vmdk))['virtual-size'];
    const ovf = renderOvf(board, version, { file: names.vmdk, fileSize, capacity });
    writeFileSync(join(tmp, names.ovf), ovf);
    await validateOvf(join(tmp, names.ovf));
    const mf = renderManifest([
      { file: names.ovf, sha256: await sha256File(join(tmp, names.ovf)) },
      { file: names.vmdk, sha256: await sha256File(vmdk) },
    ]);
    writeFileSync(join(tmp, names.mf), mf);
    for (const f of [names.ovf, names.mf, names.vmdk]) {
      chmodSync(join(tmp, f), 0o644);
      utimesSync(join(tmp, f), mtime, mtime);
    }
  });
}

/** Packs the OVF folder into the OVA: USTAR, descriptor first, then manifest, then disk. */
export async function packOva(ovfDir: string, names: OvfNames, ovaPath: string, mtime: Date): Promise<void> {
  await produceAtomically(ovaPath, async (tmp) => {
    await tar.create(
      // portable: no uid/gid/uname/atime/ctime from this host; mtime pinned to SOURCE_DATE_EPOCH.
      { file: tmp, cwd: ovfDir, portable: true, mtime, gzip: false },
      [names.ovf, names.mf, names.vmdk],
    );
  });
}
