#!/usr/bin/env node
// The CLI entry: runs the compiled CLI (npm ci builds it through the `prepare` script).
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

const entry = new URL('../dist/src/cli/main.js', import.meta.url);
if (!existsSync(fileURLToPath(entry))) {
  process.stderr.write('authstream: not built yet; run `npm run build` first\n');
  process.exit(1);
}
try {
  const { config } = await import('dotenv');
  config({ quiet: true });
} catch {
  // .env support is optional
}
const { runCli } = await import(entry.href);
const code = await runCli(process.argv.slice(2), { out: process.stdout, err: process.stderr, env: process.env });
if (code !== undefined) process.exitCode = code;
