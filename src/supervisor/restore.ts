import { rmSync } from 'node:fs';
import { SSH_AUTHORIZED_KEYS } from '../daemons/index.js';
import { CERTS_DIR, WIZARD_CONSOLES } from '../onbox.js';
import { at } from './root.js';
import type { ApplyDeps } from './apply.js';
import { applyFactoryDefaults } from './factory.js';
import { logEvent } from './log.js';
import { ensureSshHostKeys, wipeSecrets } from './secrets.js';
import { wipeConfig } from './store.js';
import { writePairPeer } from './pair-state.js';
import { withApplyLock } from './lock.js';

/**
 * The administrator's SSH keys: the config's (the factory apply renders an empty file over them,
 * this removes it at once) and any root put in ~/.ssh by hand (sshd reads only the config's, but
 * factory settings leave no way in that the next owner did not set up).
 */
export function wipeAdminSshKeys(root: string): void {
  for (const f of [SSH_AUTHORIZED_KEYS, '/root/.ssh/authorized_keys', '/root/.ssh/authorized_keys2']) rmSync(at(root, f), { force: true });
}

/**
 * Everything a unit was given or made since its factory settings: the stored configs and lbctl's
 * server states, its secrets (heartbeat key, host keys), the administrator's SSH keys and the
 * TLS certificates with their private keys. The saved machine-id stays (an identifier).
 */
export function wipeUnitState(root: string): void {
  wipeConfig(root);
  wipeSecrets(root);
  wipeAdminSshKeys(root);
  writePairPeer(root, undefined);
  rmSync(at(root, CERTS_DIR), { recursive: true, force: true });
}

/** The console units that show the wizard (or, once set up, the login prompt). */
export function consoleUnits(): string[] {
  return WIZARD_CONSOLES.map((t) => (t.startsWith('ttyS') ? `serial-getty@${t}.service` : `getty@${t}.service`));
}

/**
 * Factory settings: wipe what the unit was given or made (wipeUnitState), make new SSH host
 * keys, apply the factory defaults (then `restartConsoles` puts the wizard back).
 */
export async function restoreFactorySettings(deps: ApplyDeps, why: string): Promise<string> {
  await logEvent(deps.root, deps.run, 'lbrestore', `factory settings requested (${why})`);
  // Under the apply lock, so a wizard or lbapply finishing now cannot store a config after the wipe.
  await withApplyLock(deps.root, async () => wipeUnitState(deps.root));
  await ensureSshHostKeys(deps.root, deps.run);
  const net = await applyFactoryDefaults(deps);
  await logEvent(deps.root, deps.run, 'lbrestore', `factory settings restored: ${net}`);
  return net;
}

/**
 * Puts the wizard back on the consoles. Last thing lbrestore does: it may run in a shell on one
 * of these consoles, which the restart hangs up (--no-block, so the job outlives us).
 */
export async function restartConsoles(deps: ApplyDeps): Promise<void> {
  await deps.run('systemctl', ['--no-block', 'restart', ...consoleUnits()], { stage: 'start the setup wizard on the consoles' });
}
