import type { BoardFacts } from '../onbox.js';
import type { Board } from './schema.js';

/** The facts of a board the box needs (build.json), from the board as loaded. Pure. */
export function boardFacts(board: Board): BoardFacts {
  return {
    kind: board.kind,
    consoles: board.consoles.map((c) => c.tty),
    heartbeatSerial: board.heartbeat_serial ?? null,
    nics: board.nic.names ?? [],
    kernelModules: board.kernel_modules ?? [],
  };
}
