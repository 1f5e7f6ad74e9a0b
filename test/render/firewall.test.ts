/**
 * The rendered firewall loaded by the real nft into a network namespace of its own, with real
 * connections from another namespace: SSH only from the allowed source, the VIP's port open,
 * other ports of the unit dropped (no refusal), and a table that is not the appliance's kept
 * across two loads (no `flush ruleset`), the appliance's own tables replaced, not duplicated.
 * Needs root (namespaces); the host's own ruleset is never touched.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { stringify } from 'yaml';
import { parseConfig } from '../../src/config/index.js';
import { NFTABLES_CONF, renderAppliance } from '../../src/daemons/index.js';
import { runTool } from '../../src/run.js';
import { base } from '../config/fixture.js';

const BOX = `lbfw${process.pid}mg-box`;
const CLIENT = `lbfw${process.pid}mg-cl`;
const ip = (...args: string[]) => runTool('ip', args);
const inNs = (ns: string, argv: string[], nothrow = false) => runTool('ip', ['netns', 'exec', ns, ...argv], { nothrow });

function rendered(extra: Record<string, unknown>): string {
  const c = { ...base(), ...extra };
  const r = parseConfig(stringify(c), 'c.yaml');
  if (!r.ok) throw new Error(JSON.stringify(r.problems));
  return renderAppliance(r.config).find((f) => f.path === NFTABLES_CONF)!.content;
}

/** A TCP connection from `from` to host:port: 'connected', 'refused' or 'timeout' (dropped). */
async function connect(from: string, host: string, port: number): Promise<string> {
  const script = `const s=require('net').connect({host:'${host}',port:${port},localAddress:'${from}'});s.on('connect',()=>{console.log('connected');process.exit()});s.on('error',e=>{console.log(e.code==='ECONNREFUSED'?'refused':e.code);process.exit()});setTimeout(()=>{console.log('timeout');process.exit()},1500)`;
  return (await inNs(CLIENT, [process.execPath, '-e', script])).stdout.trim();
}

describe('the management firewall in a namespace', () => {
  let listener: ChildProcess | undefined;
  const dir = mkdtempSync(join(tmpdir(), 'lbfw-'));

  beforeAll(async () => {
    await ip('netns', 'add', BOX);
    await ip('netns', 'add', CLIENT);
    await ip('-n', BOX, 'link', 'add', 'eth0', 'type', 'veth', 'peer', 'name', 'eth0', 'netns', CLIENT);
    for (const [ns, addrs] of [[BOX, ['192.0.2.5/24', '192.0.2.100/24']], [CLIENT, ['192.0.2.50/24', '192.0.2.60/24']]] as const) {
      for (const a of addrs) await ip('-n', ns, 'addr', 'add', a, 'dev', 'eth0');
      await ip('-n', ns, 'link', 'set', 'eth0', 'up');
      await ip('-n', ns, 'link', 'set', 'lo', 'up');
    }
    // Listeners on the SSH port, the VIP's port and one more port of the unit.
    const script = `const n=require('net');let k=0;for(const p of [2222,80,8081])n.createServer(s=>s.end()).listen(p,()=>{if(++k===3)console.log('ready')})`;
    listener = spawn('ip', ['netns', 'exec', BOX, process.execPath, '-e', script], { stdio: ['ignore', 'pipe', 'inherit'] });
    await new Promise<void>((resolve) => listener!.stdout!.on('data', (d: Buffer) => d.toString().includes('ready') && resolve()));
    await inNs(BOX, ['nft', 'add', 'table', 'ip', 'keep']);
    await inNs(BOX, ['nft', 'add', 'chain', 'ip', 'keep', 'out', '{ type filter hook output priority 0; policy accept; }']);
    await inNs(BOX, ['nft', 'add', 'rule', 'ip', 'keep', 'out', 'counter', 'comment', '"not ours"']);
  }, 60_000);

  afterAll(async () => {
    listener?.kill('SIGKILL');
    await runTool('ip', ['netns', 'del', BOX], { nothrow: true });
    await runTool('ip', ['netns', 'del', CLIENT], { nothrow: true });
  });

  it('lets SSH in from the allowed source only, opens the VIP port, drops the rest, keeps other tables', async () => {
    // Before: no firewall, everything connects.
    expect(await connect('192.0.2.60', '192.0.2.5', 2222)).toBe('connected');
    const conf = rendered({ management: { ssh: { port: 2222 }, allowed_sources: ['192.0.2.50/32'] } });
    const file = join(dir, 'nftables.conf');
    writeFileSync(file, conf);
    for (let load = 0; load < 2; load++) await inNs(BOX, ['nft', '-f', file]);
    expect(await connect('192.0.2.50', '192.0.2.5', 2222)).toBe('connected');
    expect(await connect('192.0.2.60', '192.0.2.5', 2222)).toBe('timeout');
    expect(await connect('192.0.2.60', '192.0.2.100', 80)).toBe('connected');
    expect(await connect('192.0.2.50', '192.0.2.5', 8081)).toBe('timeout');
    expect(await connect('192.0.2.50', '192.0.2.5', 22)).toBe('timeout');
    const ruleset = (await inNs(BOX, ['nft', 'list', 'ruleset'])).stdout;
    expect(ruleset).toContain('comment "not ours"');
    // Loaded twice, still one chain of each: replaced, not appended.
    expect(ruleset.match(/chain input/g)).toHaveLength(1);
    expect(ruleset.match(/tcp dport 2222 accept/g)).toHaveLength(1);
    expect(ruleset).toMatch(/counter packets [1-9]\d* bytes \d+ comment "lbimage-dropped"/);
  }, 60_000);

  it("lets the HA peer's SSH in beside the allowed source (the lbpair sync channel), nobody else's", async () => {
    const ha = { primary: { hostname: base().hostname, address: '192.0.2.5' }, secondary: { hostname: 'lb-peer', address: '192.0.2.60' } };
    const file = join(dir, 'nftables-pair.conf');
    writeFileSync(file, rendered({ management: { ssh: { port: 2222 }, allowed_sources: ['192.0.2.50/32'] }, ha }));
    await inNs(BOX, ['nft', '-f', file]);
    expect(await connect('192.0.2.60', '192.0.2.5', 2222)).toBe('connected');
    expect(await connect('192.0.2.50', '192.0.2.5', 2222)).toBe('connected');
    expect(await connect('192.0.2.60', '192.0.2.5', 8081)).toBe('timeout');
  }, 60_000);
});
