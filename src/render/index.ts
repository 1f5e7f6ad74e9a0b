/** Pure renderers of every daemon config the appliance runs, from one validated config. */
import type { ApplianceConfig } from '../config/index.js';
import type { RenderedFile, RenderSecrets } from './files.js';
import { renderHaproxy } from './haproxy.js';
import { renderHeartbeat } from './heartbeat.js';
import { renderModules, renderSysctl } from './kernel.js';
import { renderLdirectord } from './ldirectord.js';
import { renderNetwork } from './network.js';
import { renderNftables } from './nftables.js';

export { writeRendered, type RenderedFile, type RenderSecrets } from './files.js';
export { HAPROXY_CFG, HAPROXY_PEERS_PORT } from './haproxy.js';
export { LDIRECTORD_CF, fwmarkOf } from './ldirectord.js';
export { HA_CF, HARESOURCES, AUTHKEYS } from './heartbeat.js';
export { INTERFACES_FILE, RESOLV_CONF } from './network.js';
export { SYSCTL_LB, SYSCTL_ARP, MODULES_LOAD } from './kernel.js';
export { NFTABLES_CONF } from './nftables.js';

/**
 * Every on-box file the config determines, sorted by path; same input, same bytes. The heartbeat
 * authkeys file is rendered only when `secrets.heartbeatKey` is given (an HA pair's secret is
 * made on the box; see `lbimage render --secrets`).
 */
export function renderAppliance(config: ApplianceConfig, secrets: RenderSecrets = {}): RenderedFile[] {
  const files = [
    ...renderHaproxy(config),
    ...renderLdirectord(config),
    ...renderHeartbeat(config, secrets),
    ...renderNetwork(config),
    ...renderSysctl(config),
    ...renderModules(config),
    ...renderNftables(config),
  ];
  return files.sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0));
}
