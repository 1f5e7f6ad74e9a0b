import { describe, expect, it } from 'vitest';
import { parseConfig } from '../../src/config/index.js';
import { DAEMONS, LDIRECTORD_CF, renderAppliance, supervisedUnits, virtualServices } from '../../src/daemons/index.js';
import { unitState } from '../../src/supervisor/ha-state.js';
import { type LiveFile, planApply } from '../../src/supervisor/plan.js';
import { L4_CONFIG } from './fake-box.js';

describe('unitState: heartbeat\'s cl_status rscstatus, read for this unit\'s role', () => {
  it.each([
    ['primary', 'all', 'active'],
    ['primary', 'local', 'active'],
    ['primary', 'foreign', 'passive'],
    ['primary', 'none', 'passive'],
    ['secondary', 'all', 'active'],
    ['secondary', 'foreign', 'active'],
    ['secondary', 'local', 'passive'],
    ['secondary', 'none', 'passive'],
    ['primary', 'transition', undefined],
    ['secondary', 'transition\n', undefined],
  ] as const)('%s + %j -> %s', (role, rsc, want) => {
    expect(unitState(role, rsc)).toBe(want);
  });
});

describe('virtualServices: what decides ldirectord reload vs restart', () => {
  it.each([
    [undefined, []],
    ['virtual=192.0.2.1:80\n    real=192.0.2.2:80 gate 1\n    protocol=tcp\n', ['virtual=192.0.2.1:80 tcp']],
    ['virtual=1\n    protocol=fwm\nvirtual6=[2001:db8::1]:53\n    protocol=udp\n', ['virtual6=[2001:db8::1]:53 udp', 'virtual=1 fwm']],
  ])('%j -> %j', (cf, want) => {
    expect(virtualServices(cf)).toEqual(want);
  });
});

describe('planApply', () => {
  const r = parseConfig(L4_CONFIG, 'l4.yaml');
  if (!r.ok) throw new Error('fixture invalid');
  const files = renderAppliance(r.config);

  it('follows the daemons\' order and starts, reloads or stops each by who runs it', () => {
    const plan = planApply(r.config, files, new Map());
    expect(plan.steps.map((s) => `${s.daemon}: ${s.argv.join(' ')}`)).toEqual([
      'journald: systemctl restart systemd-journald.service',
      'journald: journalctl --flush',
      'kernel-modules: systemctl restart systemd-modules-load.service',
      'sysctl: sysctl -q -p /etc/sysctl.d/60-lbimage.conf',
      'sysctl: sysctl -q -p /etc/sysctl.d/61-lbimage-arp.conf',
      'hostname: hostname lb',
      'network: sh -c for n; do [ -e "/sys/class/net/$n" ] || continue; ip addr flush dev "$n"; ip link set dev "$n" down; done lbapply eth1 eth2 eth3',
      'network: ifdown --force eth0',
      'network: ifup eth0',
      'nftables: systemctl reload-or-restart nftables.service',
      'sshd: systemctl try-reload-or-restart ssh.service',
      'timesyncd: systemctl stop systemd-timesyncd.service',
      'heartbeat: systemctl stop heartbeat.service',
      'ipvs-sync: systemctl stop lb-ipvs-sync.service',
      'ldirectord: systemctl restart ldirectord.service',
      'haproxy: systemctl stop haproxy.service',
      'feedback: systemctl stop lb-feedback.service',
    ]);
    expect(plan.mustRun).toEqual(['nftables.service', 'ldirectord.service']);
    expect(plan.probes.map((p) => p.what)).toEqual(['IPVS has no virtual service TCP 192.0.2.21:80']);
  });

  it('the IPVS probe wants the whole entry, not a prefix of another', () => {
    const [p] = planApply(r.config, files, new Map()).probes;
    const listing = (line: string) => ({ stdout: `IP Virtual Server version 1.2.1 (size=4096)\nProt LocalAddress:Port Scheduler Flags\n${line}\n`, exitCode: 0 });
    expect(p!.ok(listing('TCP  192.0.2.21:80 wlc'))).toBe(true);
    expect(p!.ok(listing('TCP  192.0.2.21:8080 wlc'))).toBe(false);
    expect(p!.ok(listing('UDP  192.0.2.21:80 wlc'))).toBe(false);
  });

  it('changes nothing when the box already holds every file', () => {
    const live = new Map<string, LiveFile>(files.map((f) => [f.path, { content: f.content, mode: 0o100000 | f.mode }]));
    const plan = planApply(r.config, files, live);
    expect(plan.changed).toEqual([]);
    expect(plan.steps.filter((s) => !/^systemctl (start|stop) /.test(s.argv.join(' ')))).toEqual([]);
  });

  it('reloads ldirectord when only a real server changed', () => {
    const cf = files.find((f) => f.path === LDIRECTORD_CF)!;
    const live = new Map<string, LiveFile>(files.map((f) => [f.path, { content: f.path === LDIRECTORD_CF ? cf.content.replace('gate 1', 'gate 7') : f.content, mode: f.mode }]));
    const plan = planApply(r.config, files, live);
    expect(plan.steps.filter((s) => s.daemon === 'ldirectord').map((s) => s.argv.join(' '))).toEqual(['systemctl reload-or-restart ldirectord.service']);
  });

  it('every daemon owns its files alone, and declares its packages', () => {
    const owners = DAEMONS.flatMap((d) => d.files);
    expect(new Set(owners).size).toBe(owners.length);
    for (const d of DAEMONS) expect(d.packages.length, d.name).toBeGreaterThan(0);
    expect(supervisedUnits()).toEqual(['nftables.service', 'systemd-timesyncd.service', 'heartbeat.service', 'lb-ipvs-sync.service', 'ldirectord.service', 'haproxy.service', 'lb-feedback.service']);
  });
});
