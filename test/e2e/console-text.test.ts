/** How the harness reads a command's output off the serial console (no boot: the text alone). */
import { describe, expect, it } from 'vitest';
import { overstruck } from './qemu.js';

describe('console text', () => {
  it('reads carriage returns as a terminal does: systemd clearing its status line inside an output leaves the output', () => {
    const cleared = `\r${' '.repeat(51)}\r2026-12-01T06:26:02+0000 lbmg haproxy[883]: GET /mg\r\n`;
    expect(overstruck(cleared)).toBe('2026-12-01T06:26:02+0000 lbmg haproxy[883]: GET /mg\n');
    expect(overstruck('a\r\nb\r\n')).toBe('a\nb\n');
    expect(overstruck('plain')).toBe('plain');
    expect(overstruck('abc\rX')).toBe('Xbc');
  });
});
