/**
 * heartbeat has no check-only mode (it reads /etc/ha.d at a fixed path and starts at once), so
 * the tests read what we render the way heartbeat 3.0's config.c does, for the rules that bite:
 * - ha.cf: one directive per line, `#` comments; `udpport` and `baud` apply only to media lines
 *   (`ucast`, `serial`, ...) after them; `node` names must include this unit's `uname -n`;
 * - haresources: the first word is a node named in ha.cf; each resource is `Name::arg::arg`
 *   with a script in /etc/ha.d/resource.d (or /etc/init.d);
 * - authkeys: `auth N` then `N sha1|md5|crc KEY`, and no group/other permissions.
 */
export interface HaCf {
  directives: [string, string[]][];
  nodes: string[];
}

const KNOWN = new Set([
  'logfacility', 'logfile', 'debugfile', 'keepalive', 'warntime', 'deadtime', 'initdead', 'udpport', 'baud',
  'serial', 'ucast', 'bcast', 'mcast', 'auto_failback', 'ping', 'ping_group', 'node', 'crm', 'respawn',
  'use_logd', 'apiauth', 'autojoin', 'deadping', 'hopfudge', 'realtime', 'compression', 'traditional_compression',
]);
const NEEDS_UDPPORT = new Set(['ucast', 'bcast']);
const NEEDS_BAUD = new Set(['serial']);
const TIMES = ['keepalive', 'warntime', 'deadtime', 'initdead'];

export function parseHaCf(text: string): { ok: true; cf: HaCf } | { ok: false; errors: string[] } {
  const errors: string[] = [];
  const directives: [string, string[]][] = [];
  let sawUdpport = false;
  let sawBaud = false;
  text.split('\n').forEach((raw, i) => {
    const line = raw.replace(/#.*/, '').trim();
    if (!line) return;
    const [key, ...args] = line.split(/\s+/) as [string, ...string[]];
    if (!KNOWN.has(key)) errors.push(`line ${i + 1}: unknown directive ${key}`);
    if (args.length === 0) errors.push(`line ${i + 1}: ${key} without a value`);
    if (key === 'udpport') sawUdpport = true;
    if (key === 'baud') sawBaud = true;
    if (NEEDS_UDPPORT.has(key) && !sawUdpport) errors.push(`line ${i + 1}: ${key} before udpport (it would use the default port)`);
    if (NEEDS_BAUD.has(key) && !sawBaud) errors.push(`line ${i + 1}: serial before baud (it would use the default speed)`);
    if (TIMES.includes(key) && !/^\d+(ms)?$/.test(args[0] ?? '')) errors.push(`line ${i + 1}: bad time ${args[0]}`);
    if (key === 'ucast' && args.length !== 2) errors.push(`line ${i + 1}: ucast takes an interface and an address`);
    if (key === 'auto_failback' && !['on', 'off', 'legacy'].includes(args[0] ?? '')) errors.push(`line ${i + 1}: bad auto_failback`);
    directives.push([key, args]);
  });
  const get = (k: string) => Number(directives.find(([d]) => d === k)?.[1][0]);
  if (!(get('keepalive') < get('warntime') && get('warntime') < get('deadtime'))) errors.push('keepalive < warntime < deadtime does not hold');
  const nodes = directives.filter(([k]) => k === 'node').flatMap(([, a]) => a);
  if (nodes.length < 2) errors.push('an HA pair needs two node lines');
  return errors.length ? { ok: false, errors } : { ok: true, cf: { directives, nodes } };
}

export function checkHaresources(text: string, nodes: string[], resourceExists: (name: string) => boolean): string[] {
  const errors: string[] = [];
  const lines = text.split('\n').map((l) => l.replace(/#.*/, '').trim()).filter(Boolean);
  if (lines.length !== 1) errors.push(`expected one resource group line, got ${lines.length}`);
  for (const line of lines) {
    const [owner, ...resources] = line.split(/\s+/) as [string, ...string[]];
    if (!nodes.includes(owner)) errors.push(`owner ${owner} is not a node of ha.cf (${nodes.join(', ')})`);
    for (const r of resources) {
      const name = r.split('::')[0]!;
      if (!resourceExists(name)) errors.push(`no resource script for ${name}`);
    }
  }
  return errors;
}

export function checkAuthkeys(text: string, mode: number): string[] {
  const errors: string[] = [];
  if ((mode & 0o077) !== 0) errors.push(`mode ${mode.toString(8)}: heartbeat refuses authkeys readable by group or others`);
  const lines = text.split('\n').map((l) => l.replace(/#.*/, '').trim()).filter(Boolean);
  const auth = /^auth\s+(\d+)$/.exec(lines[0] ?? '');
  if (!auth) errors.push('first line must be "auth N"');
  const keys = new Map(lines.slice(1).map((l) => l.split(/\s+/)).map(([n, ...rest]) => [n, rest] as const));
  const chosen = auth ? keys.get(auth[1]!) : undefined;
  if (!chosen) errors.push('no key line for the chosen auth index');
  else if (!['sha1', 'md5', 'crc'].includes(chosen[0] ?? '') || (chosen[0] !== 'crc' && chosen.length !== 2))
    errors.push(`bad key line: ${chosen.join(' ')}`);
  return errors;
}
