import { describe, expect, it } from 'vitest';
import { qemuArgs, type QemuOptions } from '../e2e/qemu.js';

const paths = { serialSock: '/tmp/s.sock', vars: '/tmp/vars.fd' };
const joined = (o: QemuOptions, ports: number[] = []) => qemuArgs(o, paths, ports).join(' ');

describe('qemuArgs (the e2e harness command line)', () => {
  it.each<[string, QemuOptions, RegExp[], RegExp[]]>([
    ['bios: no pflash, TCG, serial on the socket', { firmware: 'bios', drives: [{ path: 'a.qcow2' }] }, [/accel=tcg/, /-cpu max/, /socket,id=ser0,path=\/tmp\/s\.sock,server=on,wait=on/, /file=a\.qcow2,format=qcow2,if=virtio,id=disk0,snapshot=on/], [/pflash/]],
    ['uefi: OVMF code read-only, a private vars copy', { firmware: 'uefi' }, [/if=pflash,format=raw,unit=0,readonly=on,file=\/usr\/share\/OVMF\/OVMF_CODE_4M\.fd/, /unit=1,file=\/tmp\/vars\.fd/], []],
    ['ISO installer: cdrom first, blank disk writable', { firmware: 'bios', cdrom: 'i.iso', bootFrom: 'cdrom', drives: [{ path: 't.raw', snapshot: false }] }, [/file=i\.iso,media=cdrom/, /-boot order=dc/, /file=t\.raw,format=raw,if=virtio,id=disk0,snapshot=off/], []],
    ['four NICs, hostfwd on the first only', { firmware: 'bios', nics: { count: 4, model: 'e1000e' }, hostfwd: [{ guestPort: 22 }] }, [/user,id=n0,hostfwd=tcp:127\.0\.0\.1:2222-:22 /, /user,id=n3,restrict=on/, /e1000e,netdev=n3/], []],
    ['no NIC', { firmware: 'bios', nics: { count: 0 } }, [], [/-netdev/]],
  ])('%s', (_what, opts, present, absent) => {
    const cmd = joined(opts, [2222]);
    for (const re of present) expect(cmd).toMatch(re);
    for (const re of absent) expect(cmd).not.toMatch(re);
  });
});
