/**
 * Kernel modules the config needs: ip_vs and the schedulers in use (nf_conntrack for Layer 4
 * SNAT). Their own modules-load.d file: the board's modules (BOARD_MODULES_LOAD, written by the
 * build) are never touched by an apply.
 */
import type { ApplianceConfig } from '../config/index.js';
import { compileTemplate } from '../template.js';
import type { Daemon } from './daemon.js';
import source from './modules.conf.ejs';

export const MODULES_LOAD = '/etc/modules-load.d/lbimage-config.conf';

const template = compileTemplate<{ modules: string[] }>(source, 'modules.conf.ejs');

export function configModules(config: ApplianceConfig): string[] {
  const modules: string[] = [];
  if (config.layer4.length > 0) {
    modules.push('ip_vs', ...[...new Set(config.layer4.map((s) => `ip_vs_${s.scheduler}`))].sort());
    if (config.layer4.some((s) => s.forwarding === 'snat')) modules.push('nf_conntrack');
  }
  return modules;
}

export const kernelModules: Daemon = {
  name: 'kernel-modules',
  packages: ['kmod'],
  files: [MODULES_LOAD],
  render: (config) => [{ path: MODULES_LOAD, mode: 0o644, content: template({ modules: configModules(config) }) }],
  // systemd-modules-load reads every modules-load.d file and loads what is not loaded yet.
  live: () => [['systemctl', 'restart', 'systemd-modules-load.service']],
};
