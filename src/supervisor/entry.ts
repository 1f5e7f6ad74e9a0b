/**
 * SUPERVISOR_BUNDLE, what /usr/sbin/lbapply and the others run: the bundle beside it through V8's
 * code cache (code-cache.ts). Kept apart from the bundle, and small, because its own code is
 * compiled afresh every time.
 */
import { basename } from 'node:path';
import { SUPERVISOR_CODE, SUPERVISOR_CODE_CACHE } from '../onbox.js';
import { cacheFileFor, runWithCodeCache } from './code-cache.js';

/** SHA-256 of the bundle, set by build.mjs. */
declare const __LBSUPERVISOR_CODE_SHA__: string;

runWithCodeCache(`${__dirname}/${basename(SUPERVISOR_CODE)}`, cacheFileFor(SUPERVISOR_CODE_CACHE, __LBSUPERVISOR_CODE_SHA__, process.argv[2]));
