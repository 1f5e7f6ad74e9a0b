/** /etc/hostname: heartbeat tells the units of a pair apart by `uname -n`. */
import { HOSTNAME_FILE } from '../onbox.js';
import { compileTemplate } from '../template.js';
import type { Daemon } from './daemon.js';
import source from './hostname.ejs';

// The file holds one name and nothing else (no comment line: hostname(5) has no comment syntax).
const template = compileTemplate<{ hostname: string }>(source, 'hostname.ejs');

export const hostname: Daemon = {
  name: 'hostname',
  packages: ['hostname'],
  files: [HOSTNAME_FILE],
  render: (config) => [{ path: HOSTNAME_FILE, mode: 0o644, content: template({ hostname: config.hostname }) }],
  live: (config) => [['hostname', config.hostname]],
};
