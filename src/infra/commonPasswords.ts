/**
 * The list of common passwords the service refuses, read once from
 * `assets/common-passwords.txt` (data, not code: one password a line).
 */
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const FILE = join('assets', 'common-passwords.txt');

/** The project root holding assets/: found upward from this module (src/ or dist/src/). */
function locate(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  for (;;) {
    const candidate = join(dir, FILE);
    if (existsSync(candidate)) return candidate;
    const parent = dirname(dir);
    if (parent === dir) throw new Error(`${FILE} not found above ${fileURLToPath(import.meta.url)}`);
    dir = parent;
  }
}

function load(): ReadonlySet<string> {
  const lines = readFileSync(locate(), 'utf8').split('\n');
  return new Set(lines.filter((l) => l.length > 0 && !l.startsWith('#')).map((l) => l.toLowerCase()));
}

let list: ReadonlySet<string> | undefined;

/** Is this (lower-cased) password on the list of common passwords the service refuses? */
export function isCommonPassword(lowerCased: string): boolean {
  list ??= load();
  return list.has(lowerCased);
}
