import { compileTemplate } from '../template.js';
import { libvirtNicModel, type FormatsBoard } from './plan.js';
import template from './libvirt.ejs';

const domain = compileTemplate<Record<string, unknown>>(template, 'libvirt.ejs', 'xml');

/**
 * Renders the libvirt domain for the qcow2. The disk path is the qcow2's file name: `virsh
 * define` wants an absolute path, so the README has the admin edit <source file> or place the
 * qcow2 in /var/lib/libvirt/images/ (the path used when `imageDir` is given).
 */
export function renderLibvirtDomain(board: FormatsBoard, version: string, qcow2Name: string, imageDir = '/var/lib/libvirt/images'): string {
  return domain({
    name: `lbimage-${board.name}`,
    title: `lbimage ${version} (board ${board.name})`,
    memoryMiB: board.memoryMiB,
    cpus: board.cpus,
    // A raw image with both boot paths boots either way; EFI is the default on current hosts.
    uefi: board.firmware !== 'bios',
    diskPath: `${imageDir}/${qcow2Name}`,
    machine: board.libvirtMachine,
    nics: board.nic.count,
    nicModel: libvirtNicModel(board.name, board.nic.model),
    // ttyS1 -> isa-serial port 1. A pty by default; the README shows how to join two units' ports.
    heartbeatPort: board.heartbeatSerial ? Number(board.heartbeatSerial.replace(/^ttyS/, '')) : undefined,
  });
}
