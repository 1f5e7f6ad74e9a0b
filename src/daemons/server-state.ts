/**
 * Real servers an administrator took out of rotation (`lbctl drain|halt`): kept on the data
 * partition and read by the renderers, so a reload, an lbapply or a reboot keeps them out until
 * `lbctl online`. Pure lookups here; reading and writing the file is src/supervisor/server-state.ts.
 */

/** drain: no new connections, existing ones finish; halt: out now. Online is the absence of an entry. */
export type ServerAdmin = 'drain' | 'halt';

export interface ServerAdminEntry {
  layer: 'layer4' | 'layer7';
  /** The virtual service's and the real server's labels (unique, see the rule unique-labels). */
  service: string;
  server: string;
  state: ServerAdmin;
}

/** Entries as a list (labels are user text: no object keys that could be `__proto__`). */
export type ServerStates = readonly ServerAdminEntry[];

export function adminStateOf(states: ServerStates | undefined, layer: ServerAdminEntry['layer'], service: string, server: string): ServerAdmin | undefined {
  return states?.find((e) => e.layer === layer && e.service === service && e.server === server)?.state;
}
