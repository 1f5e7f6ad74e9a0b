/** lbcert: install, list, remove and make certificates on the box (src/supervisor/cert.ts does the work). */
import { parseArgs } from 'node:util';
import { parseConfig } from '../config/index.js';
import { LbError } from '../errors.js';
import { runTool } from '../run.js';
import { certificateExpiries, installCertificate, removeCertificate, selfSignedCertificate, storedCertificate, storedMode, type CertInfo } from './cert.js';
import { type CertSync, certificateToPeer } from './pair.js';
import { readStoredConfig } from './store.js';

const ROOT = '/';
const USAGE = [
  'lbcert add LABEL --cert FILE --key FILE [--chain FILE] [--replace]',
  'lbcert list',
  'lbcert remove LABEL',
  'lbcert self-signed LABEL --host NAME [--host NAME...] [--days N] [--replace]',
].join('\n       ');

function usage(message: string): LbError {
  return new LbError(`${message}\nusage: ${USAGE}`, { code: 'E_USAGE', exitCode: 2 });
}

function said(label: string, info: CertInfo): string {
  return `lbcert: installed "${label}": ${info.hosts.join(', ')}; expires ${info.notAfter.toISOString().slice(0, 10)}; chain of ${info.chainLength}`;
}

/** A replaced certificate in use goes live with a reload (HAProxy reads certificates at start). */
async function reloadIfRunning(): Promise<void> {
  await runTool('systemctl', ['try-reload-or-restart', 'haproxy.service'], { nothrow: true });
}

/** On the primary of a pair made with lbpair, the same change on the secondary (said, not fatal: this unit's change stands). */
async function toPeer(change: CertSync): Promise<void> {
  try {
    const said = await certificateToPeer(change, { root: ROOT, run: runTool, log: (l) => console.log(l) });
    if (said) console.log(said);
  } catch (e) {
    console.error(`lbcert: WARNING: the secondary refused the change: ${e instanceof Error ? e.message : String(e)}`);
  }
}

export async function lbcert(args: string[]): Promise<number> {
  const [sub, ...rest] = args;
  let parsed;
  try {
    parsed = parseArgs({
      args: rest,
      allowPositionals: true,
      options: {
        cert: { type: 'string' },
        key: { type: 'string' },
        chain: { type: 'string' },
        host: { type: 'string', multiple: true },
        days: { type: 'string' },
        replace: { type: 'boolean', default: false },
      },
    });
  } catch (e) {
    throw usage((e as Error).message);
  }
  const { values: v, positionals } = parsed;
  const label = positionals[0];
  switch (sub) {
    case 'add': {
      if (!label || positionals.length > 1 || !v.cert || !v.key) throw usage('lbcert add needs LABEL, --cert and --key');
      const info = installCertificate(ROOT, { label, cert: v.cert, key: v.key, ...(v.chain ? { chain: v.chain } : {}), replace: v.replace ?? false });
      console.log(said(label, info));
      if (v.replace) await reloadIfRunning();
      await toPeer({ install: { [label]: storedCertificate(ROOT, label) } });
      return 0;
    }
    case 'self-signed': {
      if (!label || positionals.length > 1) throw usage('lbcert self-signed needs LABEL');
      const days = v.days === undefined ? 365 : Number(v.days);
      if (!Number.isInteger(days) || days < 1 || days > 3650) throw usage('--days is a whole number of days, 1-3650');
      const info = await selfSignedCertificate(ROOT, { label, hosts: v.host ?? [], days, replace: v.replace ?? false }, runTool);
      console.log(said(label, info));
      if (v.replace) await reloadIfRunning();
      await toPeer({ install: { [label]: storedCertificate(ROOT, label) } });
      return 0;
    }
    case 'list': {
      if (positionals.length > 0) throw usage('lbcert list takes no argument');
      const all = certificateExpiries(ROOT);
      if (all.length === 0) console.log('lbcert: no certificates installed');
      for (const c of all)
        console.log(
          c.error
            ? `${c.label}\tunreadable: ${c.error}`
            : `${c.label}\t${c.hosts.join(',')}\texpires ${c.notAfter.toISOString().slice(0, 10)} (${c.daysLeft} days)\t${storedMode(ROOT, c.label)}${c.warning ? `\tWARNING: ${c.warning}` : ''}`,
        );
      return 0;
    }
    case 'remove': {
      if (!label || positionals.length > 1) throw usage('lbcert remove needs LABEL');
      const stored = readStoredConfig(ROOT);
      const parsedCfg = stored ? parseConfig(stored.text, stored.path) : undefined;
      removeCertificate(ROOT, label, parsedCfg?.ok ? parsedCfg.config : undefined);
      console.log(`lbcert: removed "${label}"`);
      await toPeer({ remove: [label] });
      return 0;
    }
    default:
      throw usage(sub ? `unknown lbcert command ${JSON.stringify(sub)}` : 'lbcert needs a command');
  }
}
