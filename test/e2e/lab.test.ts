/**
 * The lab network itself, without a VM: namespaces made and removed (a stale lab of a dead
 * process too), the host's interfaces and routes untouched, every real server answering with its
 * name over HTTP, TCP and UDP, and the user-space IPIP endpoint of a TUN-mode real server
 * delivering a tunnelled packet to the VIP, whose answer goes straight back to the client.
 */
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { runTool } from '../../src/run.js';
import { createLab, INTERNAL, names, type Lab } from './lab.js';

const ipOut = async (...args: string[]) => (await runTool('ip', args)).stdout;

describe('lab network', () => {
  let lab: Lab | undefined;
  afterAll(async () => lab?.destroy());

  it('builds the namespaces, servers answer by name, TUN endpoint decapsulates, everything is removed', async () => {
    const hostLinks = await ipOut('-o', 'link', 'show');
    const hostRoutes = await ipOut('route', 'show', 'table', 'all');
    // A lab left behind by a crashed run (its pid does not exist) is removed by the next one.
    await runTool('ip', ['netns', 'add', 'lblab4194303-lab']);

    lab = await createLab({ servers: 2, ports: { http: [80], tcp: [9000], udp: [53] } });
    const netns = await ipOut('netns', 'list');
    expect(netns).not.toContain('lblab4194303-lab');
    for (const ns of [lab.ns, lab.clientNs, ...lab.servers.map((s) => s.ns)]) expect(netns).toContain(ns);

    for (const rs of lab.servers) await lab.startServer(rs);
    const [rs1, rs2] = lab.servers as [typeof lab.servers[0], typeof lab.servers[0]];
    expect(names((await lab.request({ kind: 'http', host: rs1.ip, port: 80, count: 2 })).results)).toEqual(['rs1', 'rs1']);
    expect(names((await lab.request({ kind: 'tcp', host: rs2.ip2, port: 9000 })).results)).toEqual(['rs2']);
    expect(names((await lab.request({ kind: 'udp', host: rs2.ip, port: 53 })).results)).toEqual(['rs2']);
    const who = JSON.parse((await lab.request({ kind: 'http', host: rs1.ip, port: 80, path: '/whoami' })).results[0]!.body!);
    expect(who).toMatchObject({ name: 'rs1', remote: INTERNAL.client, xff: null });

    // Wrong content on the health URL, then a server that accepts and never answers.
    await lab.startServer(rs1, 'wrong');
    expect((await lab.request({ kind: 'http', host: rs1.ip, port: 80, path: '/health' })).results[0]!.body).toBe('NOPE rs1\n');
    await lab.startServer(rs1, 'hang');
    expect((await lab.request({ kind: 'http', host: rs1.ip, port: 80, timeoutMs: 1000 })).results[0]).toMatchObject({ ok: false, error: 'timeout' });
    await lab.stopServer(rs1);
    expect((await lab.request({ kind: 'tcp', host: rs1.ip, port: 9000 })).results[0]).toMatchObject({ ok: false, error: expect.stringMatching(/ECONNREFUSED/) });
    await lab.startServer(rs1);

    // TUN: the client plays the director and sends a UDP datagram to the VIP inside IPIP.
    const vip = '192.0.2.101';
    await lab.setupTun(rs2, vip);
    const sent = await lab.exec(lab.clientNs, ['python3', join(import.meta.dirname, 'lab-ipip-probe.py'), INTERNAL.client, rs2.ip, vip, '53']);
    expect(sent.stdout.trim()).toBe(`rs2 from ${vip}`);
    // DR: the VIP on lo is not answered for by ARP.
    const arp = await lab.exec(lab.clientNs, ['ip', 'neigh', 'show', vip]);
    expect(arp.stdout).not.toMatch(/lladdr/);
    await lab.resetServer(rs2);
    expect(await ipOut('-n', rs2.ns, 'addr', 'show', 'dev', 'lo')).not.toContain(vip);

    const prefix = lab.prefix;
    await lab.destroy();
    expect(await ipOut('netns', 'list')).not.toContain(`${prefix}-`);
    expect(await ipOut('-o', 'link', 'show')).toBe(hostLinks);
    expect(await ipOut('route', 'show', 'table', 'all')).toBe(hostRoutes);
    lab = undefined;
  }, 120_000);
});
