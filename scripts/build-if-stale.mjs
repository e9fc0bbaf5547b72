#!/usr/bin/env node
// `npm start`'s first step: compile TypeScript and the console only when dist/ is older
// than a source file or a tsconfig (a current build starts at once instead of spending
// seconds in tsc).
import { mkdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { execFileSync } from 'node:child_process';
import { createRequire } from 'node:module';
import { STAMP, staleSince } from './buildStamp.mjs';

const SOURCES = ['src', 'bench', 'examples', 'console'];
const CONFIGS = ['tsconfig.json', 'tsconfig.build.json', 'package-lock.json', 'scripts/build-console.mjs'];
const stale = () => staleSince([...SOURCES, ...CONFIGS]);

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
