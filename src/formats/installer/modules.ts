import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { join, relative } from 'node:path';
import { LbError } from '../../errors.js';

/**
 * The drivers the installer needs to see its boot medium (CD, USB stick, ISO on a virtual
 * disk) and the target disk (virtio, SATA/AHCI, SCSI, NVMe). Missing ones are skipped: a
 * kernel may have them built in.
 */
export const INSTALLER_MODULES = [
  'virtio_pci',
  'virtio_blk',
  'virtio_scsi',
  'sd_mod',
  'sr_mod',
  'cdrom',
  'ata_piix',
  'ahci',
  'nvme',
  'xhci_pci',
  'ehci_pci',
  'uhci_hcd',
  'usb_storage',
  'uas',
  'isofs',
] as const;

/** Module name as the kernel spells it: dashes and underscores are the same. */
export function moduleKey(name: string): string {
  return name.replace(/-/g, '_');
}

/**
 * Load order for `wanted` and everything they depend on, dependencies first. Pure: `deps`
 * maps a module to the modules it needs; names not in `deps` are not available and skipped.
 */
export function moduleLoadOrder(wanted: readonly string[], deps: ReadonlyMap<string, readonly string[]>): string[] {
  const order: string[] = [];
  const seen = new Set<string>();
  const visit = (name: string, path: string[]): void => {
    const key = moduleKey(name);
    if (seen.has(key) || !deps.has(key)) return;
    if (path.includes(key)) throw new Error(`module dependency loop: ${[...path, key].join(' -> ')}`);
    for (const d of deps.get(key) ?? []) visit(d, [...path, key]);
    seen.add(key);
    order.push(key);
  };
  for (const w of wanted) visit(w, []);
  return order;
}

/** The `depends=` field of a module's .modinfo section (uncompressed .ko, as Debian ships). */
export function modinfoDepends(ko: Buffer): string[] {
  const marker = Buffer.from('\0depends=');
  const at = ko.indexOf(marker);
  if (at < 0) return [];
  const start = at + marker.length;
  const end = ko.indexOf(0, start);
  const value = ko.subarray(start, end).toString('latin1');
  return value === '' ? [] : value.split(',').map(moduleKey);
}

export interface KernelModules {
  /** /lib/modules/<version> in the tree. */
  dir: string;
  /** module key -> path of its .ko relative to `dir`. */
  files: Map<string, string>;
  deps: Map<string, string[]>;
}

/** Indexes the .ko files under a kernel's module directory. */
export function readKernelModules(dir: string): KernelModules {
  const files = new Map<string, string>();
  const walk = (d: string): void => {
    for (const e of readdirSync(d, { withFileTypes: true })) {
      const p = join(d, e.name);
      if (e.isDirectory()) walk(p);
      else if (e.name.endsWith('.ko')) files.set(moduleKey(e.name.slice(0, -3)), relative(dir, p));
    }
  };
  walk(join(dir, 'kernel'));
  const deps = new Map<string, string[]>();
  for (const [key, rel] of files) deps.set(key, modinfoDepends(readFileSync(join(dir, rel))));
  return { dir, files, deps };
}

/** The kernel of a root filesystem tree: its vmlinuz and module directory (one kernel expected). */
export function findKernel(rootfs: string): { version: string; vmlinuz: string; modulesDir: string } {
  const modRoot = [join(rootfs, 'usr/lib/modules'), join(rootfs, 'lib/modules')].find((d) => existsSync(d) && statSync(d).isDirectory());
  const versions = modRoot ? readdirSync(modRoot).filter((v) => existsSync(join(rootfs, 'boot', `vmlinuz-${v}`))).sort() : [];
  const version = versions.at(-1);
  if (modRoot === undefined || version === undefined) {
    throw new LbError(`no kernel in ${rootfs} (expected boot/vmlinuz-<version> and lib/modules/<version>)`, {
      code: 'E_ISO_NO_KERNEL',
      hint: 'the ISO installer boots the appliance kernel: pass the built rootfs tree (rootfsDir)',
    });
  }
  return { version, vmlinuz: join(rootfs, 'boot', `vmlinuz-${version}`), modulesDir: join(modRoot, version) };
}
