/**
 * Rules that need the board the config runs on (build.json's facts on the box, `--board` for
 * `lbimage validate`/`render`). Without a board they do not run.
 */
import type { BoardFacts } from '../onbox.js';
import type { Rule } from './rules.js';

export interface BoardRef {
  name: string;
  facts: BoardFacts;
}

function heartbeatSerial(board: BoardRef): Rule {
  return {
    name: 'heartbeat-serial',
    description: "The heartbeat serial link uses the board's heartbeat port, never one of its consoles.",
    check({ config, error, warn }) {
      const serial = config.ha?.serial;
      if (!serial) return;
      const port = board.facts.heartbeatSerial;
      if (serial.device === undefined) {
        if (!port) warn(['ha', 'serial'], `board ${board.name} has no heartbeat serial port: this pair runs on UDP alone (set ha.serial.device to use another port)`);
        return;
      }
      const tty = serial.device.replace(/^\/dev\//, '');
      if (board.facts.consoles.includes(tty))
        error(
          ['ha', 'serial', 'device'],
          `${serial.device} is a console of board ${board.name} (consoles: ${board.facts.consoles.join(', ')}); heartbeat would fight the console for it. ${
            port ? `Use the board's heartbeat port /dev/${port}, or leave device out` : 'This board has no heartbeat serial port: remove ha.serial for a UDP-only pair'
          }`,
        );
    },
  };
}

/** Every board-aware rule, in the order they run. */
export function boardRules(board: BoardRef): Rule[] {
  return [heartbeatSerial(board)];
}
