import { closeSync, mkdtempSync, openSync, readFileSync, readSync, truncateSync, writeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { convertDisk, pinVmdkCid } from '../../src/formats/qemuimg.js';
import { runTool } from '../../src/run.js';

/** qemu-img prints the CID unpadded (%x): a short one must be pinned as well as a long one. */
describe('pinVmdkCid', () => {
  it.each(['1a2b', 'deadbeef'])('pins a CID that qemu-img wrote as %s', async (written) => {
    const dir = mkdtempSync(join(tmpdir(), 'lbvmdk-'));
    await runTool('qemu-img', ['create', '-f', 'raw', join(dir, 'disk.raw'), '4M']);
    const vmdk = join(dir, 'disk.vmdk');
    await convertDisk('vmdk', join(dir, 'disk.raw'), vmdk);
    // Put the descriptor in the state qemu-img leaves it in when its random CID is `written`.
    const fd = openSync(vmdk, 'r+');
    const head = Buffer.alloc(64 * 1024);
    readSync(fd, head, 0, head.length, 0);
    const text = head.toString('latin1');
    const at = text.indexOf('\nCID=') + 5;
    const end = text.indexOf('\n', at);
    const textEnd = text.indexOf('\0', end);
    const moved = Buffer.from(written + text.slice(end, textEnd) + '\0'.repeat(8), 'latin1');
    writeSync(fd, moved, 0, moved.length, at);
    closeSync(fd);

    pinVmdkCid(vmdk, '0123abcd');

    const after = readFileSync(vmdk).subarray(0, 64 * 1024).toString('latin1');
    expect(after).toMatch(/\nCID=0123abcd\nparentCID=ffffffff\n/);
    await runTool('qemu-img', ['check', vmdk]);
  });

  it('a VMDK cut short inside its descriptor is refused with the numbers, not patched', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'lbvmdk-'));
    await runTool('qemu-img', ['create', '-f', 'raw', join(dir, 'disk.raw'), '4M']);
    const vmdk = join(dir, 'disk.vmdk');
    await convertDisk('vmdk', join(dir, 'disk.raw'), vmdk);
    truncateSync(vmdk, 900);
    expect(() => pinVmdkCid(vmdk, '0123abcd')).toThrow(expect.objectContaining({
      code: 'E_FORMAT_VMDK',
      message: expect.stringMatching(/no room to pin .*descriptor at byte 512, 10240 bytes, 388 read, file 900 bytes/),
    }));
  });
});
