/**
 * The board reaches the config: `lbimage validate/render --board NAME` read the board's facts
 * from boards/ (the box reads the same facts from build.json): the heartbeat serial link defaults
 * to the board's heartbeat port, a console is refused as heartbeat device with its location, and
 * a board without a heartbeat port runs the pair on UDP alone.
 */
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { cli } from './run-cli.js';

const EX = join(import.meta.dirname, '..', '..', 'examples');
const primary = readFileSync(join(EX, 'ha-pair-primary.yaml'), 'utf8');

afterEach(() => vi.restoreAllMocks());

function withSerial(device: string | undefined): string {
  const f = join(mkdtempSync(join(tmpdir(), 'lbboard-')), 'pair.yaml');
  writeFileSync(f, device ? primary.replace('    baud: "19200"', `    device: ${device}\n    baud: "19200"`) : primary);
  return f;
}

describe('lbimage validate --board', () => {
  it.each([['/dev/ttyS0'], ['/dev/tty1']])('refuses a console of rack-1u (%s) as heartbeat serial device, with file:line:col', async (dev) => {
    const f = withSerial(dev);
    const line = primary.split('\n').findIndex((l) => l.includes('baud: "19200"')) + 1;
    const r = await cli(['validate', '--board', 'rack-1u', f]);
    expect(r.code).toBe(1);
    expect(r.err).toContain(`${f}:${line}:13: ha.serial.device: ${dev} is a console of board rack-1u (consoles: tty1, ttyS0)`);
    expect(r.err).toContain("Use the board's heartbeat port /dev/ttyS1");
  });

  it('accepts the board\'s heartbeat port, and the same file without a board', async () => {
    expect((await cli(['validate', '--board', 'rack-1u', withSerial('/dev/ttyS1')])).code).toBe(0);
    expect((await cli(['validate', withSerial('/dev/ttyS0')])).code).toBe(0);
  });

  it('kvm has a heartbeat port (ttyS1) since the HA pair e2e: no UDP-only warning', async () => {
    const r = await cli(['validate', '--board', 'kvm', withSerial(undefined)]);
    expect(r.code).toBe(0);
    expect(r.err).not.toMatch(/no heartbeat serial port/);
  });

  it('names the boards when the board is unknown', async () => {
    const r = await cli(['validate', '--board', 'nope', withSerial(undefined)]);
    expect(r.code).toBe(2);
    expect(r.err).toMatch(/unknown board 'nope'; boards: .*rack-1u/);
  });
});

describe('lbimage render --board', () => {
  it.each([
    ['rack-1u', /^baud 19200\nserial \/dev\/ttyS1$/m],
    ['kvm', /^baud 19200\nserial \/dev\/ttyS1$/m],
  ])('on %s the serial link is the board\'s heartbeat port, or absent (UDP alone)', async (board, serial) => {
    const out = mkdtempSync(join(tmpdir(), 'lbrender-'));
    const r = await cli(['render', '--board', board, '--out', out, withSerial(undefined)]);
    expect(r.code).toBe(0);
    const haCf = readFileSync(join(out, 'etc/ha.d/ha.cf'), 'utf8');
    if (serial) expect(haCf).toMatch(serial);
    else expect(haCf).not.toMatch(/^(serial|baud) /m);
    expect(haCf).toMatch(/^ucast eth0 192\.0\.2\.12$/m);
  });
});
