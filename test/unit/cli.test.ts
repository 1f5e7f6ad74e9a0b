import { describe, expect, it } from 'vitest';
import { main } from '../../src/cli/app.js';

describe('lbimage CLI', () => {
  it('exits 2 with help for an unknown command', async () => {
    expect(await main(['no-such-command'])).toBe(2);
  });
  it('prints its version', async () => {
    expect(await main(['--version'])).toBe(0);
  });
});
