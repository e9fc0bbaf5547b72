#!/usr/bin/env node
// `npm start`'s first step: compile TypeScript and the console only when dist/ is older
// than a source file or a tsconfig (a current build starts at once instead of spending
// seconds in tsc).
import { existsSync, mkdirSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { execFileSync } from 'node:child_process';
import { createRequire } from 'node:module';

const STAMP = join('dist', '.build-stamp');
const SOURCES = ['src', 'bench', 'examples', 'console'];
const CONFIGS = ['tsconfig.json', 'tsconfig.build.json', 'package-lock.json', 'scripts/build-console.mjs'];

function newest(path) {
  if (!existsSync(path)) return 0;
  const st = statSync(path);
  if (!st.isDirectory()) return st.mtimeMs;
  let max = st.mtimeMs; // a deleted or renamed file changes its folder's time
  for (const entry of readdirSync(path)) max = Math.max(max, newest(join(path, entry)));
  return max;
}

const stale = () => {
  const built = existsSync(STAMP) ? statSync(STAMP).mtimeMs : 0;
  return built === 0 || Math.max(...SOURCES.map(newest), ...CONFIGS.map(newest)) > built;
};

// Two callers at once (test files run in parallel) build once: the first holds a lock
// folder, the others wait for it and look again. A lock older than 5 minutes is a dead one.
const LOCK = join('dist', '.build-lock');
const sleep = (ms) => Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, ms);
function lock() {
  mkdirSync('dist', { recursive: true });
  for (;;) {
    try {
      mkdirSync(LOCK);
      return;
    } catch (error) {
      if (error.code !== 'EEXIST') throw error;
      if (Date.now() - statSync(LOCK, { throwIfNoEntry: false })?.mtimeMs > 300_000) rmSync(LOCK, { recursive: true, force: true });
      else sleep(200);
    }
  }
}

if (stale()) {
  lock();
  try {
    if (stale()) {
      const tsc = createRequire(import.meta.url).resolve('typescript/bin/tsc');
      process.stderr.write('building (TypeScript changed since the last build)…\n');
      execFileSync(process.execPath, [tsc, '-p', 'tsconfig.build.json'], { stdio: 'inherit' });
      execFileSync(process.execPath, ['scripts/build-console.mjs'], { stdio: 'inherit' });
      writeFileSync(STAMP, `${new Date().toISOString()}\n`);
    }
  } finally {
    rmSync(LOCK, { recursive: true, force: true });
  }
}
