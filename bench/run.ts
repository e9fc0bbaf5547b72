/**
 * `npm run bench` (= build, then `node dist/bench/run.js`): runs the suite, prints one
 * table, writes bench/results/latest.json and the chart, and (full mode) the generated
 * section of docs/benchmarks.md.
 *
 *   node dist/bench/run.js                 full mode (~10 s a scenario, 100k-event rebuild)
 *   node dist/bench/run.js --quick         a few seconds a scenario, 5k-event rebuild
 *   node dist/bench/run.js --only=me,refresh   some scenarios (argon2 baseline me register login refresh peer rebuild growth)
 *   node dist/bench/run.js --profile --only=refresh
 *                                          service under --cpu-prof (and the rebuild under the
 *                                          inspector); prints where the time goes; writes
 *                                          $TMPDIR/authstream-bench-profiles/, not latest.json nor the docs
 *   node dist/bench/run.js --only=growth   the growth scenario alone (stores of 10k, 100k and 1M users:
 *                                          ~25 min; --quick: 2k and 20k); --growth-sizes=10000,100000 to choose
 *   --no-docs  leave docs/benchmarks.md alone      --docs  update it even in quick mode
 *   --out=DIR  where latest.json and latest.svg go (default bench/results)
 *   --wait-quiet=S  wait up to S seconds for a quiet machine first (full mode: 180)
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { serverAnswers, ADMIN_URL } from './db.js';
import { updateDocs } from './docs.js';
import { writeResults } from './output.js';
import { textTable } from './report.js';
import { growthTable, GROWTH_MODES, measureGrowth } from './growth.js';
import { cleanUpInterruptedRuns, MODES, runSuite, SCENARIOS, SERVICE_ENV, type ScenarioName } from './suite.js';

/** The repository root, whether this runs from bench/ or dist/bench/. */
const root = resolve(fileURLToPath(new URL('.', import.meta.url)), import.meta.url.includes('/dist/bench/') ? '../..' : '..');

function parseArgs(argv: string[]): Map<string, string | true> {
  const out = new Map<string, string | true>();
  for (const a of argv) {
    const m = /^--([a-z-]+)(?:=(.*))?$/.exec(a);
    if (!m?.[1]) throw new Error(`unknown argument ${a}`);
    out.set(m[1], m[2] ?? true);
  }
  return out;
}

async function main(): Promise<void> {
  const args = parseArgs(process.argv.slice(2));
  const known = new Set(['quick', 'only', 'profile', 'no-docs', 'docs', 'out', 'wait-quiet', 'growth-sizes']);
  for (const k of args.keys()) if (!known.has(k)) throw new Error(`unknown option --${k}`);
  const mode = args.has('quick') ? 'quick' : 'full';
  const onlyArg = args.get('only');
  let only: Set<ScenarioName> | undefined;
  let growth = !args.has('profile');
  if (typeof onlyArg === 'string') {
    only = new Set();
    growth = false;
    for (const s of onlyArg.split(',')) {
      if (s === 'growth') growth = true;
      else if (!(SCENARIOS as readonly string[]).includes(s)) throw new Error(`unknown scenario ${s} (${SCENARIOS.join(', ')}, growth)`);
      else only.add(s as ScenarioName);
    }
  }
  const outDir = resolve(root, typeof args.get('out') === 'string' ? (args.get('out') as string) : 'bench/results');
  const profiling = args.has('profile');
  // Profiles are large and per machine: outside the repository.
  const profileDir = profiling ? join(tmpdir(), 'authstream-bench-profiles') : undefined;

  if (!(await serverAnswers())) {
    throw new Error(`no PostgreSQL server answers at ${new URL(ADMIN_URL).host} (set BENCH_DATABASE_URL)`);
  }
  const log = (line: string): void => {
    process.stderr.write(`[bench] ${line}\n`);
  };
  log(`${mode} mode${only ? `, only ${[...only].join(', ')}` : ''}${profiling ? ', profiling' : ''}`);
  const waitArg = args.get('wait-quiet');
  const waitQuietSeconds = typeof waitArg === 'string' ? Number(waitArg) : MODES[mode].waitQuietSeconds;
  // The growth scenario alone (--only=growth) skips the suite; otherwise it runs after it.
  if (only?.size === 0) {
    await runGrowth(mode, args.get('growth-sizes'), outDir, log);
    return;
  }
  const result = await runSuite({ ...MODES[mode], mode, only, profileDir, log, waitQuietSeconds });

  process.stdout.write(`\n${textTable(result)}\n\n`);
  for (const w of result.warnings) process.stdout.write(`warning: ${w}\n`);
  const missed = result.targets.filter((t) => !t.met);
  process.stdout.write(missed.length === 0
    ? 'every measured target is met\n'
    : `targets missed: ${missed.map((t) => t.id).join(', ')} (see docs/benchmarks.md for where the time goes)\n`);

  if (profiling) {
    const file = join(profileDir ?? outDir, `profile-${Date.now()}.json`);
    writeFileSync(file, `${JSON.stringify(result, null, 2)}\n`);
    process.stdout.write(`profiling run: results in ${file}; latest.json and the docs left alone\n`);
    return;
  }
  const written = writeResults(result, outDir);
  process.stdout.write(`wrote ${written.json} and ${written.svg}\n`);
  const writeDocs = args.has('docs') || (mode === 'full' && !only && !args.has('no-docs'));
  if (writeDocs) {
    updateDocs(join(root, 'docs/benchmarks.md'), result);
    process.stdout.write('updated docs/benchmarks.md\n');
  }
  if (growth) await runGrowth(mode, args.get('growth-sizes'), outDir, log);
}

async function runGrowth(mode: 'full' | 'quick', sizesArg: string | true | undefined, outDir: string, log: (line: string) => void): Promise<void> {
  const sizes = typeof sizesArg === 'string' ? sizesArg.split(',').map(Number) : GROWTH_MODES[mode].sizes;
  if (sizes.some((n) => !Number.isInteger(n) || n < 10)) throw new Error('--growth-sizes takes whole numbers of users, at least 10');
  const grown = await measureGrowth({
    ...GROWTH_MODES[mode], sizes, http: { connections: MODES[mode].connections.http, seconds: MODES[mode].seconds, maxRequests: MODES[mode].maxRequests.http },
    argon2: { connections: MODES[mode].connections.argon2, seconds: MODES[mode].seconds, maxRequests: MODES[mode].maxRequests.argon2 },
    warmupSeconds: MODES[mode].warmupSeconds, serviceEnv: SERVICE_ENV, log,
  });
  process.stdout.write(`\n${growthTable(grown)}\n\n`);
  mkdirSync(outDir, { recursive: true });
  const file = join(outDir, 'growth-latest.json');
  writeFileSync(file, `${JSON.stringify({ date: new Date().toISOString(), mode, ...grown }, null, 2)}\n`);
  process.stdout.write(`wrote ${file}\n`);
}

for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.once(signal, () => {
    process.stderr.write(`bench: ${signal}: stopping the children and dropping the database\n`);
    void cleanUpInterruptedRuns().finally(() => process.exit(130));
  });
}

main().then(
  () => process.exit(0),
  (e: unknown) => {
    process.stderr.write(`bench: ${e instanceof Error ? (e.stack ?? e.message) : String(e)}\n`);
    process.exit(1);
  },
);
