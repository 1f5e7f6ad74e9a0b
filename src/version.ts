import { readFileSync } from 'node:fs';

declare const __LBIMAGE_VERSION__: string | undefined;

/** The product version: injected by build.mjs into bundles, read from package.json from source. */
export const VERSION: string =
  typeof __LBIMAGE_VERSION__ === 'string'
    ? __LBIMAGE_VERSION__
    : (JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')) as { version: string }).version;
