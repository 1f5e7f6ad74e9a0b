import { PassThrough } from 'node:stream';
import { stringify } from 'yaml';
import { describe, expect, it } from 'vitest';
import { haView, parseConfig } from '../../src/config/index.js';
import { askWizardQuestions, summarize, type WizardAnswers } from '../../src/supervisor/wizard/dialog.js';
import { Prompter } from '../../src/supervisor/wizard/prompter.js';
import { Terminal } from '../../src/supervisor/wizard/terminal.js';
import { answersToConfig } from '../../src/supervisor/wizard/to-config.js';

const KEY = 'ab'.repeat(32);
const deps = { hashPassword: async (pw: string) => `$6$saltsalt$${Buffer.from(pw).toString('hex')}`, newHeartbeatKey: () => KEY };

/** Runs the dialog on scripted keystrokes; returns its answers (or error) and the transcript. */
async function dialog(keys: string): Promise<{ answers?: WizardAnswers; error?: Error; out: string }> {
  const input = new PassThrough();
  const output = new PassThrough();
  let out = '';
  output.on('data', (d) => (out += d));
  const term = new Terminal({ input, output });
  input.end(keys);
  try {
    return { answers: await askWizardQuestions(new Prompter(term), deps), out };
  } catch (e) {
    return { error: e as Error, out };
  } finally {
    term.close();
  }
}

const lines = (...l: string[]) => l.map((x) => `${x}\r\n`).join('');
const PW = ['s3cret-pw', 's3cret-pw'];
/** A public key (ssh-keygen -t ed25519); the wizard's last question before the summary. */
const SSH_KEY = 'ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIGG4+joX0N3OqjbsIUONU5ZxVS9bLP4A5rhBH23qby9A admin@laptop';

describe('wizard dialog', () => {
  it.each([
    {
      name: 'one-arm single unit: DR on eth0',
      keys: lines('', 'n', 'y', '192.0.2.21', '', '192.0.2.1', '192.0.2.53', '', '192.0.2.30', ...PW, ''),
      forwarding: 'dr', vip: '192.0.2.21', ifaces: ['192.0.2.21/24'], ha: undefined,
    },
    {
      name: "two-arm single unit (the guide's example): NAT on the external address",
      keys: lines('', '', 'n', '192.0.2.21', '255.255.255.0', '198.51.100.21', '24', '198.51.100.1', '', '80', '192.0.2.10', ...PW, ''),
      forwarding: 'nat', vip: '198.51.100.21', ifaces: ['192.0.2.21/24', '198.51.100.21/24'], ha: undefined,
    },
    {
      name: 'two-arm HA primary: floating VIP and floating gateway',
      keys: lines('', 'y', 'primary', 'n', '192.0.2.21', '', '198.51.100.21', '', '', '', '192.0.2.22', '198.51.100.100', '192.0.2.1', '443', '192.0.2.10', ...PW, 'not a key', `${SSH_KEY.slice(0, 40)}${SSH_KEY.slice(41)}`, SSH_KEY),
      forwarding: 'nat', vip: '198.51.100.100', ifaces: ['192.0.2.21/24', '198.51.100.21/24'], ha: 'primary',
    },
    {
      name: 'one-arm HA secondary pastes the key',
      keys: lines('', 'y', 'secondary', 'y', '192.0.2.22', '', '', '', '192.0.2.21', '192.0.2.100', KEY.toUpperCase(), '', '192.0.2.30', ...PW, ''),
      forwarding: 'dr', vip: '192.0.2.100', ifaces: ['192.0.2.22/24'], ha: 'secondary',
    },
  ])('$name', async ({ keys, forwarding, vip, ifaces, ha }) => {
    const { answers, error, out } = await dialog(keys);
    expect(error, out).toBeUndefined();
    expect(answers!.ha?.key).toBe(ha ? KEY : undefined);
    if (ha === 'primary') expect(out).toContain(KEY);
    expect(out).not.toContain('s3cret-pw');
    const doc = answersToConfig(answers!);
    const result = parseConfig(stringify(doc), 'wizard.yaml');
    expect(result.ok, JSON.stringify(result)).toBe(true);
    if (!result.ok) return;
    const s = result.config.layer4[0]!;
    expect([s.forwarding, s.vip]).toEqual([forwarding, vip]);
    expect(result.config.network.interfaces.flatMap((i) => i.addresses)).toEqual(ifaces);
    expect(haView(result.config)?.role).toBe(ha);
    expect(result.config.admin?.password_hash).toMatch(/^\$6\$/);
    expect(summarize(answers!)).toContain(`${vip}:${s.ports[0]}`);
    // The primary's administrator pasted a key (after a line that is none, and one with a character lost).
    expect(result.config.admin?.ssh_authorized_keys).toEqual(ha === 'primary' ? [SSH_KEY] : []);
    expect(summarize(answers!)).toContain(ha === 'primary' ? 'Administrator SSH key:  ssh-ed25519 (admin@laptop)' : 'Administrator SSH key:  none');
    if (ha === 'primary') expect(out).toMatch(/that is not one public key line[\s\S]*please try again[\s\S]*please try again/);
  });

  it.each([
    { name: 'not an IP', keys: lines('', 'n', 'y', '192.0.2.300'), reason: '"192.0.2.300" is not an IPv4 address' },
    { name: 'not a netmask', keys: lines('', 'n', 'y', '192.0.2.21', '255.0.255.0'), reason: '"255.0.255.0" is not a netmask' },
    { name: 'network address', keys: lines('', 'n', 'y', '192.0.2.0', '24'), reason: '192.0.2.0 is the network address of 192.0.2.0/24' },
    { name: 'y/n', keys: lines('', 'maybe'), reason: '"maybe" is not y or n' },
    { name: 'eth1 on eth0 subnet', keys: lines('', 'n', 'n', '192.0.2.21', '', '192.0.2.22'), reason: "192.0.2.22 is on eth0's subnet" },
    { name: 'gateway off-subnet', keys: lines('', 'n', 'y', '192.0.2.21', '', '203.0.113.1'), reason: 'gateway 203.0.113.1 is not on the subnet of eth0' },
    { name: 'bad port', keys: lines('', 'n', 'y', '192.0.2.21', '', '', '', '70000'), reason: '"70000" is not a port number' },
    {
      name: 'NAT real server not on the internal subnet',
      keys: lines('', 'n', 'n', '192.0.2.21', '', '198.51.100.21', '', '', '', '', '198.51.100.30'),
      reason: 'real server 198.51.100.30 is not on the internal subnet 192.0.2.0/24 (eth0), which NAT needs',
    },
    { name: 'real server is the LB itself', keys: lines('', 'n', 'y', '192.0.2.21', '', '', '', '', '192.0.2.21'), reason: "192.0.2.21 is already eth0's address" },
    { name: 'short password', keys: lines('', 'n', 'y', '192.0.2.21', '', '', '', '', '192.0.2.30', 'short'), reason: 'the password is too short' },
    { name: 'passwords differ', keys: lines('', 'n', 'y', '192.0.2.21', '', '', '', '', '192.0.2.30', 'first-pw-1', 'other-pw-2'), reason: 'The two passwords do not match' },
    { name: 'bad pasted key', keys: lines('', 'y', 'secondary', 'y', '192.0.2.22', '', '', '', '192.0.2.21', '192.0.2.100', 'xyz'), reason: 'not a shared secret made by the primary' },
  ])('re-asks with the reason: $name', async ({ keys, reason }) => {
    const { error, out } = await dialog(keys);
    // The script ends right after the bad answer: the wizard asked again, then met end of input.
    expect(out).toContain(`${reason}`);
    expect(out).toContain('please try again');
    expect((error as { code?: string }).code).toBe('E_CANCELLED');
  });

  it.each([
    { name: 'at the welcome', keys: '\x03' },
    { name: 'mid-answer', keys: `${lines('', 'n', 'y')}192.0.\x03` },
    { name: 'at the password', keys: `${lines('', 'n', 'y', '192.0.2.21', '', '', '', '', '192.0.2.30')}secr\x03` },
  ])('Ctrl-C $name cancels', async ({ keys }) => {
    const { error } = await dialog(keys);
    expect((error as { code?: string }).code).toBe('E_CANCELLED');
  });

  it('uses the bracketed defaults on empty input', async () => {
    const { answers } = await dialog(lines('', '', '', '', '', '', '', '', '192.168.2.30', ...PW, ''));
    expect(answers).toMatchObject({ oneArm: true, eth0: { ip: '192.168.2.21', prefix: 24 }, port: 80, realServer: '192.168.2.30' });
  });

  it('edits with backspace and ignores arrow keys', async () => {
    const { answers } = await dialog(lines('', 'n', 'y', '192.0.2.2x\x7f1\x1b[A', '', '', '', '', '192.0.2.30', ...PW, ''));
    expect(answers?.eth0.ip).toBe('192.0.2.21');
  });
});
