/**
 * The daemon modules and the image recipe agree: every package a module names is installed, and
 * every unit the supervisor starts only when a config wants it is one the image does not enable.
 * Adding a daemon module without its package (or a unit the image would start at boot) fails here.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { loadRecipe } from '../../src/board/index.js';
import { DAEMONS, daemonPackages } from '../../src/daemons/index.js';

const repo = join(import.meta.dirname, '..', '..');
// Essential in Debian: on every system, never named in a package list.
const ESSENTIAL = new Set(['hostname']);

describe('daemon modules and the image', () => {
  const recipe = loadRecipe(repo);

  it('installs every package a daemon module names', () => {
    const missing = daemonPackages().filter((p) => !ESSENTIAL.has(p) && !recipe.packages.includes(p));
    expect(missing).toEqual([]);
  });

  it('does not enable at boot the units the supervisor starts only when the config wants them', () => {
    // nftables is wanted by every config, so its unit stays enabled: the last applied ruleset
    // is loaded at boot before the supervisor runs.
    const onDemand = DAEMONS.filter((d) => d.unit && d.name !== 'nftables').map((d) => d.unit!);
    expect(onDemand.sort()).toEqual(['haproxy.service', 'heartbeat.service', 'lb-feedback.service', 'lb-ipvs-sync.service', 'ldirectord.service', 'systemd-timesyncd.service']);
    for (const unit of onDemand) expect(recipe.disabled_units).toContain(unit);
  });

  it('has the daemons\' own checkers on the build host for the tests (Makefile APT_DAEMONS)', () => {
    const makefile = readFileSync(join(repo, 'Makefile'), 'utf8');
    const line = /^APT_DAEMONS\s*:=(.*)$/m.exec(makefile)?.[1]?.split(/\s+/).filter(Boolean) ?? [];
    // Modules without a checker (journald, timesyncd) need nothing on the host.
    const checkers = daemonPackages(DAEMONS.filter((d) => d.check)).filter((p) => !ESSENTIAL.has(p) && !['kmod', 'procps'].includes(p));
    expect(checkers.filter((p) => !line.includes(p))).toEqual([]);
  });
});
