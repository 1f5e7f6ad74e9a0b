import { readFileSync, writeFileSync } from 'node:fs';
import { BUILD_INFO, bannerLine } from '../onbox.js';

// Minimal boot service until the full supervisor lands: print the banner on every console.
function consoles(): string[] {
  try {
    // e.g. "tty1 ttyS0" (the kernel's console= arguments); the last one is /dev/console.
    const active = readFileSync('/sys/class/tty/console/active', 'utf8').trim().split(/\s+/);
    return active.filter(Boolean).map((t) => `/dev/${t}`);
  } catch {
    return [];
  }
}

function main(argv: string[]): number {
  const [cmd] = argv;
  if (cmd !== 'banner') {
    console.error('usage: lbsupervisor banner');
    return 2;
  }
  const info = JSON.parse(readFileSync(BUILD_INFO, 'utf8')) as { version: string; board: string };
  const line = `\n${bannerLine(info)}\n`;
  process.stdout.write(line);
  for (const tty of consoles()) {
    try {
      writeFileSync(tty, line);
    } catch {
      // A console that is not there (no VGA on a headless VM) is not an error.
    }
  }
  return 0;
}

process.exitCode = main(process.argv.slice(2));
