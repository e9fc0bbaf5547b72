// When dist/ was last built, and when the things it is built from last changed: shared by
// scripts/build-if-stale.mjs (npm start) and the system tests (test/helpers/instances.ts),
// which run the compiled service only when it is current.
import { existsSync, readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';

export const STAMP = join('dist', '.build-stamp');

/** The newest modification time under `path` (0 when it does not exist). */
export function newest(path) {
  if (!existsSync(path)) return 0;
  const st = statSync(path);
  if (!st.isDirectory()) return st.mtimeMs;
  let max = st.mtimeMs; // a deleted or renamed file changes its folder's time
  for (const entry of readdirSync(path)) max = Math.max(max, newest(join(path, entry)));
  return max;
}

/** Whether any of `paths` changed since the last build (or there is none). */
export function staleSince(paths) {
  const built = existsSync(STAMP) ? statSync(STAMP).mtimeMs : 0;
  return built === 0 || Math.max(...paths.map(newest)) > built;
}
