/**
 * The factory settings as a config: what a unit runs before the setup wizard, and again after a
 * factory reset. Shared by the box (which decides eth0's address with an ARP probe) and the image
 * build (which carries their rendered files, so the first boot finds them live).
 */
import { stringify } from 'yaml';
import { CONFIG_VERSION } from './migrate.js';

/** eth0 at `address` (the factory address, once the box found it free), else without one. */
export function factoryConfigText(address?: string): string {
  return stringify({
    version: CONFIG_VERSION,
    hostname: 'lb',
    network: { interfaces: [{ name: 'eth0', addresses: address ? [address] : [] }] },
  });
}
