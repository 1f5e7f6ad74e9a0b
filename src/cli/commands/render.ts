import { readFileSync } from 'node:fs';
import { basename, join } from 'node:path';
import { labelId, loadConfigFile, services } from '../../config/index.js';
import { renderAppliance, writeRendered, type RenderSecrets } from '../../daemons/index.js';
import { LbError } from '../../errors.js';
import { formatProblem } from '../../yamlcore.js';
import { boardArg, parseCommandArgs, usageError, type Command } from '../command.js';

export const renderCommand: Command = {
  name: 'render',
  summary: 'validate an appliance config and write under DIR, at their on-box paths, exactly the files lbapply writes',
  usage: 'lbimage render FILE --out DIR [--secrets DIR] [--board NAME]',
  async run(argv) {
    const { values, positionals } = parseCommandArgs(this, argv, {
      out: { type: 'string' },
      secrets: { type: 'string' },
      board: { type: 'string' },
      repo: { type: 'string' },
    }, 1);
    if (!values.out) throw usageError(this, '--out DIR is required');
    const file = positionals[0]!;
    // The board's facts (heartbeat serial port, consoles) as the box reads them from build.json.
    const board = await boardArg(this, values.board, values.repo);
    const result = loadConfigFile(file, board);
    const problems = result.ok ? result.warnings : result.problems;
    for (const p of problems) console.error(formatProblem(p));
    if (!result.ok) {
      console.error(`${file}: ${problems.filter((p) => p.severity === 'error').length} problem(s); nothing written`);
      return 1;
    }
    const { config } = result;
    const secrets: RenderSecrets = {};
    if (config.ha) {
      if (values.secrets) {
        // The config names the on-box path; on a build host the same file name is looked up in DIR.
        const keyFile = join(values.secrets, basename(config.ha.secret_file));
        try {
          secrets.heartbeatKey = readFileSync(keyFile, 'utf8');
        } catch (e) {
          throw new LbError(`cannot read the heartbeat secret ${keyFile}: ${(e as Error).message}`, {
            code: 'E_SECRET_MISSING',
            hint: `create it (e.g. openssl rand -hex 32 > ${keyFile}), or leave out --secrets to render everything but authkeys`,
          });
        }
      } else {
        console.error(
          `note: /etc/ha.d/authkeys not rendered: the heartbeat secret (${config.ha.secret_file}) is made on the box; pass --secrets DIR holding ${basename(config.ha.secret_file)} to render it`,
        );
      }
    }
    // Render everything before writing anything: a renderer error leaves DIR untouched.
    const files = renderAppliance(config, secrets, board?.facts);
    try {
      writeRendered(files, values.out);
    } catch (e) {
      throw new LbError(`cannot write under ${values.out}: ${(e as Error).message}`, {
        code: 'E_RENDER_WRITE',
        hint: 'choose a directory you can write to (files already written there are complete, each replaced atomically)',
      });
    }
    for (const f of files) console.log(join(values.out, f.path));
    // Labels the daemon configs know by another name: say which, so a log line can be traced back.
    for (const x of services(config))
      for (const [where, label] of [[`${x.layer}[${x.i}]`, x.s.label], ...x.s.real_servers.map((r, j) => [`${x.layer}[${x.i}].real_servers[${j}]`, r.label])] as const)
        if (labelId(label) !== label) console.log(`label ${where} "${label}" is ${labelId(label)} in daemon configs`);
    return 0;
  },
};
