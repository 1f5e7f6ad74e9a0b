import { factoryConfigText } from '../config/factory.js';
import { FACTORY_ETH0 } from '../onbox.js';
import type { Runner } from '../run.js';
import { type ApplyDeps, applyConfig } from './apply.js';

export type ProbeResult = { free: true } | { free: false; why: string };

/**
 * RFC 5227 style probe (sender 0.0.0.0) for the factory address, so a second new unit on the
 * same LAN does not steal the first one's address. The image's arping is Thomas Habets' (package
 * `arping`): it exits 0 when something answered; -0 makes it a probe.
 */
export async function probeFactoryAddress(run: Runner, iface = 'eth0'): Promise<ProbeResult> {
  const ip = FACTORY_ETH0.split('/')[0]!;
  const up = await run('ip', ['link', 'set', 'dev', iface, 'up'], { nothrow: true });
  if (up.exitCode !== 0) return { free: false, why: `${iface} cannot be brought up (${up.stderr.trim() || `exit ${up.exitCode}`})` };
  const r = await run('arping', ['-0', '-i', iface, '-c', '3', '-w', '3', ip], { nothrow: true });
  if (r.exitCode === 0) {
    const mac = /from ([0-9a-f:]{17})/i.exec(r.stdout)?.[1];
    return { free: false, why: `another host${mac ? ` (${mac})` : ''} already answers for ${ip}` };
  }
  if (r.exitCode === 1) return { free: true };
  return { free: false, why: `the ARP probe for ${ip} failed (${(r.stderr || r.stdout).trim().split('\n').pop() || `exit ${r.exitCode}`})` };
}

/** Applies the factory settings through the one pipeline; stores nothing (the unit stays unconfigured). */
export async function applyFactoryDefaults(deps: ApplyDeps): Promise<string> {
  const probe = await probeFactoryAddress(deps.run);
  await applyConfig({ text: factoryConfigText(probe.free ? FACTORY_ETH0 : undefined), file: 'factory defaults', record: 'none' }, deps);
  // Nobody can log in on an unconfigured unit: the console runs the wizard instead.
  await deps.run('usermod', ['--lock', 'root'], { stage: 'lock the administrator account' });
  return probe.free
    ? `eth0 has the factory address ${FACTORY_ETH0}`
    : `eth0 has no address: ${probe.why}; set one with the setup wizard`;
}
