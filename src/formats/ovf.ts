import { compileTemplate } from '../template.js';
import { LbError } from '../errors.js';
import { PRODUCT } from '../onbox.js';
import type { Firmware, FormatsBoard } from './plan.js';
import template from './ovf.ejs';

const envelope = compileTemplate<Record<string, unknown>>(template, 'ovf.ejs', 'xml');

/** The OVF product and vendor strings: what the import wizard shows, from the one product name. */
export const OVF_PRODUCT = `${PRODUCT} load balancer appliance`;
export const VENDOR = PRODUCT;
/** The port group a fresh import maps the NICs to; the admin remaps it in the import wizard. */
export const OVF_NETWORK = 'VM Network';

/** rasd:ResourceSubType of each NIC model VMware emulates. */
const OVF_NIC_SUBTYPE: Record<string, string> = {
  vmxnet3: 'VmxNet3',
  e1000: 'E1000',
  e1000e: 'E1000e',
};

/** A raw image with both boot paths is declared EFI: vmx-13 (ESXi 6.5) boots EFI guests well. */
function vmwareFirmware(fw: Firmware): 'bios' | 'efi' {
  return fw === 'bios' ? 'bios' : 'efi';
}

export interface OvfDisk {
  /** File name of the VMDK beside the descriptor. */
  file: string;
  fileSize: number;
  /** Virtual size of the disk in bytes (qemu-img info's virtual-size). */
  capacity: number;
}

/** Renders the OVF 1.0 descriptor. Pure: same board, version and disk give the same bytes. */
export function renderOvf(board: FormatsBoard, version: string, disk: OvfDisk): string {
  const subType = OVF_NIC_SUBTYPE[board.nic.model];
  if (subType === undefined) {
    throw new LbError(`board ${board.name}: NIC model '${board.nic.model}' has no VMware equivalent for the OVA`, {
      code: 'E_FORMAT_NIC',
      hint: `use one of ${Object.keys(OVF_NIC_SUBTYPE).join(', ')} on a board that ships an OVA`,
    });
  }
  if (!/^vmx-\d+$/.test(board.vmwareHardwareVersion)) {
    throw new LbError(`board ${board.name}: VMware hardware version '${board.vmwareHardwareVersion}' is not of the form vmx-<n>`, {
      code: 'E_FORMAT_VMX',
      hint: 'e.g. vmx-13 (ESXi 6.5 and later); keep it low so older hosts import the OVA',
    });
  }
  const nics = Array.from({ length: board.nic.count }, (_, i) => ({
    index: i + 1,
    slot: 7 + i,
    instanceId: 5 + i,
    subType,
    // The guides have the admin cable the first NIC only; the rest stay down until configured.
    connected: i === 0,
  }));
  return envelope({
    vmName: `lbimage-${board.name}`,
    product: OVF_PRODUCT,
    vendor: VENDOR,
    version,
    fullVersion: `${version} (board ${board.name})`,
    hardwareVersion: board.vmwareHardwareVersion,
    cpus: board.cpus,
    memoryMiB: board.memoryMiB,
    firmware: vmwareFirmware(board.firmware),
    network: OVF_NETWORK,
    nics,
    disk,
  });
}

/** One line of the `.mf` manifest. vCenter/ESXi accept exactly this form and no other. */
export function manifestLine(file: string, sha256hex: string): string {
  return `SHA256(${file})= ${sha256hex}`;
}

export function renderManifest(entries: readonly { file: string; sha256: string }[]): string {
  return entries.map((e) => `${manifestLine(e.file, e.sha256)}\n`).join('');
}
