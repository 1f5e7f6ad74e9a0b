import { existsSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
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

/**
 * The DMTF OVF envelope schema, kept beside the repo in ../shared/ovf-schema (CI and dev
 * machines alike); LBIMAGE_OVF_SCHEMA points elsewhere.
 */
export function ovfSchemaPath(): string {
  return process.env.LBIMAGE_OVF_SCHEMA ?? resolve(repoRoot(), '..', 'shared', 'ovf-schema', 'dsp8023_1.1.1.xsd');
}

export async function validateOvf(ovfPath: string): Promise<void> {
  const schema = ovfSchemaPath();
  if (!existsSync(schema)) {
    throw new LbError(`OVF schema not found at ${schema}`, {
      code: 'E_OVF_SCHEMA_MISSING',
      hint: 'check out the shared folder beside the repo (../shared/ovf-schema) or set LBIMAGE_OVF_SCHEMA',
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
