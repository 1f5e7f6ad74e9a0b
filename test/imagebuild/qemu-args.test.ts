import { describe, expect, it } from 'vitest';
import { keyName, qemuArgs, vgaRows, type QemuOptions } from '../e2e/qemu.js';

const paths = { serialSock: '/tmp/s.sock', monitorSock: '/tmp/m.sock', vars: '/tmp/vars.fd' };
const joined = (o: QemuOptions, ports: number[] = []) => qemuArgs(o, paths, ports).join(' ');

describe('keyName and vgaRows (typing on and reading the VGA console)', () => {
  it.each([['a', 'a'], ['Y', 'shift-y'], ['/', 'slash'], ['=', 'equal'], ['"', 'shift-apostrophe'], ['\r', 'ret'], [' ', 'spc']])('%j is %s', (ch, key) => {
    expect(keyName(ch)).toBe(key);
  });

  it('reads 80x25 character/attribute pairs as rows', () => {
    const mem = Buffer.alloc(4000);
    for (let i = 0; i < 2000; i++) mem.writeUInt16LE(0x0720, i * 2); // blank, grey on black
    [...'Install onto'].forEach((c, i) => (mem[(24 * 80 + i) * 2] = c.charCodeAt(0)));
    const rows = vgaRows(mem);
    expect(rows).toHaveLength(25);
    expect(rows[24]).toBe('Install onto');
    expect(rows[0]).toBe('');
  });
});

describe('qemuArgs (the e2e harness command line)', () => {
  it.each<[string, QemuOptions, RegExp[], RegExp[]]>([
    ['bios: no pflash, TCG, serial on the socket', { firmware: 'bios', drives: [{ path: 'a.qcow2' }] }, [/accel=tcg/, /-cpu qemu64 -smp 1 /, /socket,id=ser0,path=\/tmp\/s\.sock,server=on,wait=on/, /file=a\.qcow2,format=qcow2,if=virtio,id=disk0,snapshot=on/], [/pflash/]],
    ['uefi: OVMF code read-only, a private vars copy', { firmware: 'uefi' }, [/if=pflash,format=raw,unit=0,readonly=on,file=\/usr\/share\/OVMF\/OVMF_CODE_4M\.fd/, /unit=1,file=\/tmp\/vars\.fd/], []],
    ['ISO installer: cdrom first, blank disk writable', { firmware: 'bios', cdrom: 'i.iso', bootFrom: 'cdrom', drives: [{ path: 't.raw', snapshot: false }] }, [/file=i\.iso,media=cdrom/, /-boot order=dc/, /file=t\.raw,format=raw,if=virtio,id=disk0,snapshot=off/], []],
    ['four NICs, hostfwd on the first only', { firmware: 'bios', nics: { count: 4, model: 'e1000e' }, hostfwd: [{ guestPort: 22 }] }, [/user,id=n0,hostfwd=tcp:127\.0\.0\.1:2222-:22 /, /user,id=n3,restrict=on/, /e1000e,netdev=n3/], []],
    ['no NIC', { firmware: 'bios', nics: { count: 0 } }, [], [/-netdev/]],
    ['a USB stick on xHCI', { firmware: 'uefi', drives: [{ path: 'i.iso', interface: 'usb' }] }, [/file=i\.iso,format=raw,if=none,id=disk0/, /qemu-xhci,id=xhci0 /, /usb-storage,bus=xhci0\.0,drive=disk0,removable=on/], []],
    ['the human monitor on its socket', { firmware: 'bios' }, [/-monitor unix:\/tmp\/m\.sock,server=on,wait=off/], [/-monitor none/]],
  ])('%s', (_what, opts, present, absent) => {
    const cmd = joined(opts, [2222]);
    for (const re of present) expect(cmd).toMatch(re);
    for (const re of absent) expect(cmd).not.toMatch(re);
  });
});
