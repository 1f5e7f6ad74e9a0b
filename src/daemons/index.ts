/**
 * Every daemon the appliance configures, in the order an apply makes changes live: kernel
 * modules before the sysctls that need them (net.ipv4.vs.*), the host name before heartbeat
 * (which knows the units by it), addresses before the daemons that bind them, the firewall
 * marks before IPVS, heartbeat before the resources it runs, the IPVS connection sync with the
 * peer before IPVS (ldirectord), IPVS before HAProxy.
 * (The journal, SSH and time sync: see the list.)
 * Adding a daemon: one module file beside its template, and one line here.
 */
import type { ApplianceConfig } from '../config/index.js';
import type { BoardFacts } from '../onbox.js';
import type { Daemon, RenderContext, RenderedFile, RenderSecrets } from './daemon.js';
import type { ServerStates } from './server-state.js';
import { feedback } from './feedback.js';
import { haproxy } from './haproxy.js';
import { heartbeat } from './heartbeat.js';
import { hostname } from './hostname.js';
import { ipvsSync } from './ipvs-sync.js';
import { kernelModules } from './kernel-modules.js';
import { ldirectord } from './ldirectord.js';
import { network } from './network.js';
import { nftables } from './nftables.js';
import { sysctl } from './sysctl.js';
import { journald } from './journald.js';
import { sshd } from './sshd.js';
import { timesyncd } from './timesyncd.js';

// The journal first (what follows is logged to disk), the firewall before sshd moves to a new port.
export const DAEMONS: readonly Daemon[] = [journald, kernelModules, sysctl, hostname, network, nftables, sshd, timesyncd, heartbeat, ipvsSync, ldirectord, haproxy, feedback];

export type { Argv, Check, Daemon, FileChange, RenderContext, RenderedFile, RenderSecrets, RunBy, UpProbe } from './daemon.js';
export { runByOf } from './daemon.js';
export { writeRendered } from './files.js';
export { HAPROXY_CFG, HAPROXY_PEERS_PORT } from './haproxy.js';
export { adminStateOf, type ServerAdmin, type ServerAdminEntry, type ServerStates } from './server-state.js';
export { HAPROXY_SERVER_CA, TLS_PROFILE, certFile, certificateLabels } from './haproxy.js';
export { FEEDBACK_CONF, FEEDBACK_UNIT, feedbackTargets, type FeedbackConfig, type FeedbackTarget } from './feedback.js';
export { AUTHKEYS, HA_CF, HARESOURCES, serialLink } from './heartbeat.js';
export { IPVS_SYNC_CONF, IPVS_SYNC_PORT, IPVS_SYNC_UNIT, syncIdOf } from './ipvs-sync.js';
export { MODULES_LOAD } from './kernel-modules.js';
export { LDIRECTORD_CF, LDIRECTORD_RESOURCE_ARG, fwmarkOf, ipvsListing, virtualServices } from './ldirectord.js';
export { INTERFACES_FILE, RESOLV_CONF } from './network.js';
export { NFTABLES_CONF, NFT_DROP_COUNTER, NFT_TABLES } from './nftables.js';
export { JOURNALD_DROPIN, JOURNAL_LIMITS } from './journald.js';
export { SSHD_DROPIN, SSH_AUTHORIZED_KEYS } from './sshd.js';
export { TIMESYNCD_DROPIN, clockStatus, parseClockStatus, type ClockStatus } from './timesyncd.js';
export { SYSCTL_ARP, SYSCTL_LB } from './sysctl.js';

/** The Debian packages the daemons come from (the image recipe and the host's checkers need them). */
export function daemonPackages(daemons: readonly Daemon[] = DAEMONS): string[] {
  return [...new Set(daemons.flatMap((d) => d.packages))].sort();
}

/** Units whose packages enable them at install; the apply starts each only when the config wants it. */
export function supervisedUnits(daemons: readonly Daemon[] = DAEMONS): string[] {
  return daemons.flatMap((d) => (d.unit ? [d.unit] : []));
}

/**
 * Every on-box file the config determines, sorted by path; same input, same bytes. The heartbeat
 * authkeys file is rendered only when `secrets.heartbeatKey` is given (an HA pair's secret is
 * made on the box; see `lbimage render --secrets`). `board`: the facts of the board it runs on
 * (build.json on the box, `--board` for render). `lbimage render` and lbapply both call this.
 */
export function renderAppliance(
  config: ApplianceConfig,
  secrets: RenderSecrets = {},
  board?: BoardFacts,
  daemons: readonly Daemon[] = DAEMONS,
  servers?: ServerStates,
): RenderedFile[] {
  const ctx: RenderContext = { secrets, ...(board ? { board } : {}), ...(servers ? { servers } : {}) };
  const files = daemons.flatMap((d) => d.render(config, ctx));
  return files.sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0));
}

/** Which daemon owns an on-box path. */
export function ownerOf(path: string, daemons: readonly Daemon[] = DAEMONS): Daemon | undefined {
  return daemons.find((d) => d.files.includes(path));
}
