/**
 * lbctl drain|halt|online on a fake box (the real checkers, recorded systemctl/ipvsadm): the
 * state is stored, the rendered files carry it (HAProxy weight 0 / disabled, ldirectord weight
 * 0 / left out) so a reload or lbapply keeps it, online clears it, and a VIP or RIP that names
 * nothing is a usage error that changes nothing. The traffic proof is test/e2e/traffic.test.ts.
 */
import { existsSync, readFileSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { HAPROXY_CFG, LDIRECTORD_CF } from '../../src/daemons/index.js';
import { isLbError } from '../../src/errors.js';
import { applyConfig, verifyConfig } from '../../src/supervisor/apply.js';
import { lbctl } from '../../src/supervisor/lbctl.js';
import { at } from '../../src/supervisor/root.js';
import { realServerStates, SERVER_STATE } from '../../src/supervisor/server-state.js';
import { type FakeBox, fakeBox } from './fake-box.js';

const CONFIG = `version: 2
hostname: lb
network:
  interfaces:
    - name: eth0
      addresses: [192.0.2.21/24]
layer4:
  - label: Mail
    vip: 192.0.2.21
    ports: [25]
    forwarding: nat
    real_servers:
      - { label: mx 1, ip: 192.0.2.40, port: 25, weight: 7 }
      - { label: mx 2, ip: 192.0.2.41, port: 25 }
layer7:
  - label: Web Site
    vip: 192.0.2.21
    ports: [8080]
    real_servers:
      - { label: web 1, ip: 192.0.2.31, port: 8080, weight: 5 }
      - { label: web 2, ip: 192.0.2.32, port: 8080 }
`;

let box: FakeBox;
afterEach(() => rmSync(box.root, { recursive: true, force: true }));

/** A stand-in for HAProxy's admin socket: records each command line, answers nothing (success). */
async function adminSocket(dir: string): Promise<{ path: string; said: string[]; close: () => void }> {
  const path = join(dir, 'admin.sock');
  const said: string[] = [];
  const srv = createServer((c) => {
    let buf = '';
    c.on('data', (d) => (buf += d.toString()));
    c.on('end', () => {
      said.push(buf.trim());
      c.end('\n');
    });
  });
  await new Promise<void>((r) => srv.listen(path, r));
  return { path, said, close: () => srv.close() };
}

async function setUp() {
  box = fakeBox();
  const deps = { root: box.root, run: box.run, log: (l: string) => box.log.push(l), upTimeoutMs: 500 };
  await applyConfig({ text: CONFIG, file: 'c.yaml', record: 'store' }, deps);
  const sock = await adminSocket(box.root);
  return { deps: { ...deps, haproxySocket: sock.path }, sock };
}

const live = (p: string) => readFileSync(at(box.root, p), 'utf8');
const serverLine = (name: string) => live(HAPROXY_CFG).split('\n').find((l) => l.includes(`server ${name} `));

describe('lbctl', { timeout: 240_000 }, () => {
  it('drains, halts and brings online a Layer 7 server: runtime API, rendered file, stored state', async () => {
    const { deps, sock } = await setUp();
    try {
      await lbctl('drain', '192.0.2.21:8080', '192.0.2.31', deps);
      expect(sock.said.at(-1)).toBe('set server Web_Site/web_1 state drain');
      expect(serverLine('web_1')).toContain('weight 0 ');
      expect(serverLine('web_2')).toContain('weight 100 ');
      // what lbstatus shows
      const states = realServerStates(box.root, verifyConfig(CONFIG, 'c.yaml').config);
      expect(states.find((s) => s.server === 'web 1')).toMatchObject({ layer: 'layer7', service: 'Web Site', vip: '192.0.2.21', address: '192.0.2.31:8080', state: 'drain' });
      expect(states.filter((s) => s.state !== 'online')).toHaveLength(1);
      // a plain lbapply of the stored config keeps it
      await applyConfig({ text: CONFIG, file: 'c.yaml', record: 'store' }, deps);
      expect(serverLine('web_1')).toContain('weight 0 ');

      await lbctl('halt', 'Web Site', 'web 1', deps);
      expect(sock.said.at(-1)).toBe('set server Web_Site/web_1 state maint; shutdown sessions server Web_Site/web_1');
      expect(serverLine('web_1')).toMatch(/ weight 5 disabled /);

      await lbctl('online', '192.0.2.21', '192.0.2.31:8080', deps);
      expect(sock.said.at(-1)).toBe('set server Web_Site/web_1 weight 5; set server Web_Site/web_1 state ready');
      expect(serverLine('web_1')).toContain('weight 5 ');
      expect(serverLine('web_1')).not.toContain('disabled');
      expect(existsSync(at(box.root, SERVER_STATE))).toBe(false);
      // the first apply only: the runtime API made each change live, the files follow without a
      // reload (the extra lbapply found them current)
      expect(box.actions.filter((a) => a.startsWith('systemctl reload-or-restart haproxy'))).toHaveLength(1);
    } finally {
      sock.close();
    }
  });

  it('drains and halts a Layer 4 server through IPVS weight and ldirectord.cf', async () => {
    const { deps, sock } = await setUp();
    try {
      await lbctl('drain', '192.0.2.21:25', 'mx 1', deps);
      expect(box.actions).toContain('ipvsadm -e -t 192.0.2.21:25 -r 192.0.2.40:25 -m -w 0');
      expect(live(LDIRECTORD_CF)).toContain('real=192.0.2.40:25 masq 0');
      await lbctl('halt', '192.0.2.21', '192.0.2.40', deps);
      expect(box.actions).toContain('ipvsadm -d -t 192.0.2.21:25 -r 192.0.2.40:25');
      expect(live(LDIRECTORD_CF)).not.toContain('192.0.2.40');
      expect(live(LDIRECTORD_CF)).toContain('real=192.0.2.41:25 masq 100');
      await lbctl('online', '192.0.2.21', '192.0.2.40', deps);
      expect(box.actions).toContain('ipvsadm -e -t 192.0.2.21:25 -r 192.0.2.40:25 -m -w 7');
      expect(live(LDIRECTORD_CF)).toContain('real=192.0.2.40:25 masq 7');
      expect(sock.said).toEqual([]);
    } finally {
      sock.close();
    }
  });

  it.each([
    ['an unknown VIP', '192.0.2.99', '192.0.2.31', /no virtual service is "192\.0\.2\.99" \(the config's VIPs: 192\.0\.2\.21\)/],
    ['a VIP port no service serves', '192.0.2.21:9999', '192.0.2.31', /no virtual service is "192\.0\.2\.21:9999"/],
    ['an unknown RIP', '192.0.2.21:8080', '192.0.2.77', /has no real server "192\.0\.2\.77" \(its real servers: 192\.0\.2\.31:8080, 192\.0\.2\.32:8080\)/],
    ['an unknown label', 'Web Site', 'web 9', /has no real server "web 9"/],
    ['not an address nor a label', 'not/a;vip', '192.0.2.31', /no virtual service is "not\/a;vip"/],
  ])('refuses %s with a usage error naming it, changing nothing', async (_n, vip, rip, re) => {
    const { deps, sock } = await setUp();
    try {
      const before = live(HAPROXY_CFG);
      const actions = box.actions.length;
      const e = await lbctl('drain', vip, rip, deps).then(() => undefined, (x: unknown) => x);
      expect(isLbError(e) && e.exitCode === 2 && e.code === 'E_USAGE').toBe(true);
      expect((e as Error).message).toMatch(re);
      expect((e as Error).message).toContain('nothing was changed');
      expect(live(HAPROXY_CFG)).toBe(before);
      expect(box.actions.length).toBe(actions);
      expect(sock.said).toEqual([]);
      expect(existsSync(at(box.root, SERVER_STATE))).toBe(false);
    } finally {
      sock.close();
    }
  });
});
