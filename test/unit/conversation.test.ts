// The runner's conversation (src/run.ts): a real process spoken to line by line, as the pair's
// sync channel speaks to ssh.
import { describe, expect, it } from 'vitest';
import { converseTool } from '../../src/run.js';

// Answers the first line, waits for a second, then says what it got and exits 3.
const PEER = 'read a; echo "checked $a"; read b; echo "got ${b:-nothing}"; echo "said on stderr" >&2; exit 3';

describe('converseTool', () => {
  it('hears each answer before it says the next line; end gives the rest, stderr and the exit code', async () => {
    const c = converseTool('sh', ['-c', PEER]);
    c.say('one');
    expect(await c.hear()).toBe('checked one');
    c.say('apply');
    expect(await c.end()).toEqual({ stdout: 'got apply\n', stderr: 'said on stderr\n', exitCode: 3 });
  });

  it('ends by closing its input: the other side reads the end, not a line', async () => {
    const c = converseTool('sh', ['-c', PEER]);
    c.say('one');
    expect(await c.hear()).toBe('checked one');
    const r = await c.end();
    expect(r.stdout).toBe('got nothing\n');
    expect(await c.hear()).toBeUndefined();
  });

  it('a program that exits at once, or is not there', async () => {
    const quick = converseTool('sh', ['-c', 'echo bye; exit 255']);
    quick.say('ignored, its input is closed');
    expect(await quick.hear()).toBe('bye');
    expect(await quick.hear()).toBeUndefined();
    expect((await quick.end()).exitCode).toBe(255);
    const missing = converseTool('lbimage-no-such-program', []);
    missing.say('x');
    expect(await missing.hear()).toBeUndefined();
    expect(await missing.end()).toMatchObject({ exitCode: 127, stderr: expect.stringContaining('ENOENT') });
  });
});
