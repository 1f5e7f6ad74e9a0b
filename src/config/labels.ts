/**
 * Labels as the guides write them ("RabbitMQ HA", "IIS Servers") and the identifiers daemon
 * configs get for them. HAProxy names proxies and servers with letters, digits, '-', '_', '.'
 * and ':' only, and every daemon config line is split at whitespace, so a label reaches a daemon
 * only through `labelId`. The mapping is deterministic (same label, same identifier, on every
 * build and box) and leaves a label that is already an identifier unchanged, so configs written
 * before labels could hold spaces render byte for byte as before. Two labels that map to the
 * same identifier are refused by the rule `unique-labels`.
 */

/** Longest label and longest identifier, in characters. */
export const LABEL_MAX = 63;

const NOT_ID = /[^A-Za-z0-9._-]+/g;

/**
 * "RabbitMQ HA" -> "RabbitMQ_HA", "Café (main)" -> "Cafe_main": accents dropped (NFKD), each
 * run of other characters one '_', none at either end.
 */
export function labelId(label: string): string {
  const ascii = label.normalize('NFKD').replace(/[\u0300-\u036f]/g, '');
  const id = ascii
    .replace(NOT_ID, (run, at: number) => (at === 0 || at + run.length === ascii.length ? '' : '_'))
    .replace(/^[._-]+/, '');
  return id.slice(0, LABEL_MAX);
}
