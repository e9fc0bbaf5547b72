#!/usr/bin/env node
// Builds the operator console (console/) into dist/console: one JavaScript bundle (Preact
// and the pages, by esbuild), one stylesheet and the page, with content hashes in the
// asset names so they can be cached for good while index.html is asked for every time.
import { build } from 'esbuild';
import { copyFileSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const out = join(root, 'dist', 'console');
const assets = join(out, 'assets');

rmSync(out, { recursive: true, force: true });
mkdirSync(assets, { recursive: true });
const result = await build({
  absWorkingDir: root,
  entryPoints: { app: 'console/src/main.tsx', style: 'console/src/styles.css' },
  outdir: assets,
  entryNames: '[name]-[hash]',
  bundle: true,
  minify: true,
  format: 'esm',
  target: ['es2022'],
  jsx: 'automatic',
  jsxImportSource: 'preact',
  legalComments: 'linked',
  metafile: true,
  logLevel: 'warning',
});
const outputs = Object.keys(result.metafile.outputs).map((p) => basename(p));
const js = outputs.find((f) => /^app-.*\.js$/.test(f));
const css = outputs.find((f) => /^style-.*\.css$/.test(f));
if (!js || !css) throw new Error(`console build: missing outputs in ${outputs.join(', ')}`);
const page = readFileSync(join(root, 'console', 'index.html'), 'utf8').replace('%JS%', js).replace('%CSS%', css);
writeFileSync(join(out, 'index.html'), page);
copyFileSync(join(root, 'console', 'icon.svg'), join(assets, 'icon.svg'));
