import { readFileSync } from 'node:fs';
import { BUILD_INFO, type BoardFacts, type BuildInfo } from '../onbox.js';
import { at } from './root.js';

/** build.json as the image carries it; `facts` is missing in images built before the board contract. */
export type OnBoxBuildInfo = Omit<BuildInfo, 'facts'> & { facts?: BoardFacts };

export function readBuildInfo(root: string): OnBoxBuildInfo | undefined {
  try {
    return JSON.parse(readFileSync(at(root, BUILD_INFO), 'utf8')) as OnBoxBuildInfo;
  } catch {
    return undefined;
  }
}

/** The board facts of this box, with the board's name for messages; undefined without build.json facts. */
export function boardOnBox(root: string): { name: string; facts: BoardFacts } | undefined {
  const info = readBuildInfo(root);
  return info?.facts ? { name: info.board, facts: info.facts } : undefined;
}
