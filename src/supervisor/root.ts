import { join } from 'node:path';

/**
 * Every on-box path in src/onbox.ts is absolute; the supervisor prefixes it with a root so unit
 * tests and benchmarks run against a temporary directory ('/' on the box).
 */
export function at(root: string, onBoxPath: string): string {
  return root === '/' ? onBoxPath : join(root, onBoxPath);
}
