import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { LbError } from '../errors.js';
import { runTool } from '../run.js';

/** The repo root: the nearest directory above this module (or bundle) holding package.json. */
function repoRoot(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  while (!existsSync(join(dir, 'package.json'))) {
    const up = dirname(dir);
    if (up === dir) return process.cwd();
    dir = up;
  }
  return dir;
}

/** Where the DMTF OVF envelope schema and its imports are kept, in the repository. */
export const OVF_SCHEMA_DIR = 'src/formats/ovf-schema';

/** The DMTF OVF envelope schema, kept in the repository beside this module (README.md there). */
export function ovfSchemaPath(): string {
  return join(repoRoot(), OVF_SCHEMA_DIR, 'dsp8023_1.1.1.xsd');
}

export async function validateOvf(ovfPath: string): Promise<void> {
  const schema = ovfSchemaPath();
  if (!existsSync(schema)) {
    throw new LbError(`OVF schema not found at ${schema}`, {
      code: 'E_OVF_SCHEMA_MISSING',
      hint: `it is part of the repository (${OVF_SCHEMA_DIR}/): restore it with git checkout -- ${OVF_SCHEMA_DIR}`,
    });
  }
  await runTool('xmllint', ['--noout', '--nonet', '--schema', schema, ovfPath], { stage: 'validate OVF descriptor' });
}

export async function validateLibvirtDomain(xmlPath: string): Promise<void> {
  await runTool('virt-xml-validate', [xmlPath, 'domain'], { stage: 'validate libvirt domain XML' });
}

/** `qemu-img check` exits non-zero on corruption and leaks; raw has nothing to check. */
export async function checkDisk(path: string, format: 'vmdk' | 'vhdx' | 'qcow2'): Promise<void> {
  await runTool('qemu-img', ['check', '-f', format, path], { stage: `check ${format}` });
}
