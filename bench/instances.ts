/**
 * `npm run bench:instances [-- --processes=1,2,3 --seconds=8 --connections=32]`: what N
 * service processes on one PostgreSQL database do together. For each N, on a fresh
 * database: N services start, users are registered, then GET /v1/me, refresh and login
 * are driven over loopback with the connections split evenly across the processes (one
 * autocannon per process, run at once), and the answers of all of them counted. Where the
 * CPU went (all services, PostgreSQL, the load generator) tells which part is the limit.
 * Prints a table and writes bench/results/instances-latest.json (docs/scaling.md).
 */
import { randomBytes } from 'node:crypto';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { availableParallelism, tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { createBenchDatabase, type BenchDatabase } from './db.js';
import { loginRequests, measure, meRequests, refreshRequests, seedUsers, type LoadResult, type Requests, type SeedUser } from './load.js';
import { cpuMeter, type CpuSplit } from './procStats.js';
import { fromSources, startService, type Child } from './processes.js';
import { SERVICE_ENV } from './suite.js';

const root = fileURLToPath(new URL(fromSources ? '../' : '../../', import.meta.url));
const arg = (name: string, fallback: string): string => process.argv.find((a) => a.startsWith(`--${name}=`))?.split('=')[1] ?? fallback;
const PROCESSES = arg('processes', '1,2,3').split(',').map(Number);
const SECONDS = Number(arg('seconds', '8'));
const CONNECTIONS = Number(arg('connections', '32'));
const SCENARIOS = ['me', 'refresh', 'login'] as const;
type Scenario = (typeof SCENARIOS)[number];

interface Measured {
  rps: number;
  failed: number;
  latency_ms_p50: number;
  latency_ms_p99: number;
  /** Shares of all cores: every service process together, PostgreSQL, the load generator, idle. */
  cpu: { services: number; postgres: number; load_generator: number; idle: number };
}

const log = (line: string): void => {
  process.stderr.write(`[instances] ${line}\n`);
};

/** Runs one scenario on every process at once, `CONNECTIONS` split between them. */
async function together(services: Child[], database: string, requestsOf: (service: Child, i: number) => Requests, connections: number): Promise<Measured> {
  const per = Math.max(1, Math.floor(connections / services.length));
  const meters: Array<{ end(): CpuSplit }> = [];
  const results: LoadResult[] = await Promise.all(services.map((service, i) => measure(requestsOf(service, i), {
    connections: per, seconds: SECONDS, maxRequests: 2_000_000,
  }, 2, {
    before: () => {
      meters[i] = cpuMeter(service.pid, database);
    },
  })));
  const splits = meters.map((m) => m.end());
  const first = splits[0];
  const sum = (k: (r: LoadResult) => number): number => results.reduce((a, r) => a + k(r), 0);
  return {
    rps: sum((r) => r.rps),
    failed: sum((r) => r.failed),
    latency_ms_p50: Math.max(...results.map((r) => r.latency_ms_p50)),
    latency_ms_p99: Math.max(...results.map((r) => r.latency_ms_p99)),
    cpu: {
      services: splits.reduce((a, s) => a + s.service, 0),
      postgres: first?.postgres ?? 0,
      // Each meter counts this whole process (all the autocannons) as the load generator.
      load_generator: first?.loadGenerator ?? 0,
      idle: first?.idle ?? 0,
    },
  };
}

async function measureN(n: number): Promise<Record<Scenario, Measured>> {
  let db: BenchDatabase | undefined;
  const dataDir = mkdtempSync(join(tmpdir(), 'authstream-instances-'));
  const services: Child[] = [];
  try {
    db = await createBenchDatabase();
    const masterKey = randomBytes(32).toString('base64');
    // One after the other: the first migrates and creates the read models.
    for (let i = 0; i < n; i++) services.push(await startService({ databaseUrl: db.url, masterKey, dataDir: join(dataDir, String(i)), env: SERVICE_ENV }));
    log(`${n} process(es) on ${db.name}: ${services.map((s) => s.pid).join(', ')}`);
    const seeds: SeedUser[][] = await Promise.all(services.map((s, i) => seedUsers(s.url, Math.ceil((CONNECTIONS * 2 + 8) / n), `${n}p${i}`)));
    const out = {} as Record<Scenario, Measured>;
    const database = db.name;
    out.me = await together(services, database, (s, i) => meRequests(s.url, seeds[i] ?? []), CONNECTIONS);
    // Each process refreshes the sessions it started: a session's chain stays on one instance, as behind a sticky balancer.
    out.refresh = await together(services, database, (s, i) => refreshRequests(s.url, (seeds[i] ?? []).map((u) => u.refreshToken)).options, CONNECTIONS);
    out.login = await together(services, database, (s, i) => loginRequests(s.url, seeds[i] ?? []), CONNECTIONS);
    for (const name of SCENARIOS) {
      const m = out[name];
      log(`${n} process(es), ${name}: ${m.rps.toFixed(0)}/s, p50 ${m.latency_ms_p50} ms, services ${(m.cpu.services * 100).toFixed(0)} %, PostgreSQL ${(m.cpu.postgres * 100).toFixed(0)} %, idle ${(m.cpu.idle * 100).toFixed(0)} %, ${m.failed} failed`);
    }
    return out;
  } finally {
    await Promise.all(services.map((s) => s.stop().catch(() => {})));
    await db?.drop().catch(() => {});
    rmSync(dataDir, { recursive: true, force: true });
  }
}

const results: Record<string, Record<Scenario, Measured>> = {};
for (const n of PROCESSES) results[n] = await measureN(n);
const pct = (x: number): string => `${(x * 100).toFixed(0)} %`;
process.stdout.write(`\nprocesses | scenario | answers/s | × one process | p50 ms | p99 ms | services CPU | PostgreSQL CPU | load generator | idle  (${availableParallelism()} cores)\n`);
for (const n of PROCESSES) {
  for (const name of SCENARIOS) {
    const m = results[n]?.[name];
    const one = results[PROCESSES[0] ?? 1]?.[name];
    if (!m) continue;
    process.stdout.write(`${n} | ${name} | ${m.rps.toFixed(0)} | ${one ? (m.rps / one.rps).toFixed(2) : '–'} | ${m.latency_ms_p50} | ${m.latency_ms_p99} | ${pct(m.cpu.services)} | ${pct(m.cpu.postgres)} | ${pct(m.cpu.load_generator)} | ${pct(m.cpu.idle)}\n`);
  }
}
const dir = join(root, 'bench/results');
mkdirSync(dir, { recursive: true });
writeFileSync(join(dir, 'instances-latest.json'), `${JSON.stringify({ date: new Date().toISOString(), seconds: SECONDS, connections: CONNECTIONS, results }, null, 2)}\n`);
process.stdout.write(`wrote ${join(dir, 'instances-latest.json')}\n`);
process.exit(0);
