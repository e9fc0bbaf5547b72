/**
 * The growth scenario: how cost changes as the data grows. For each size (users), a fresh
 * database is filled (bench/growthStore.ts), every read model is rebuilt from it (timed: the
 * rebuild rate at that size), then the service runs on it and serves, one after another,
 * GET /v1/me, refresh (ordinary sessions, and sessions with a month of refreshes, read cold
 * first), login, register and the admin search, each with the same load shape at every
 * size. A request's cost is the CPU the service and PostgreSQL spent per answer; the goal
 * is that at the largest size it stays within GROWTH_COST_LIMIT × the smallest's.
 */
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { availableParallelism, tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { loadConfig } from '../src/config.js';
import { createRuntime } from '../src/composition/runtime.js';
import { counterDelta, createBenchDatabase, dbReader } from './db.js';
import { fillGrowthStore, growthUser, type GrowthSample } from './growthStore.js';
import { loginRequests, measure, meRequests, PASSWORD, refreshRequests, registerRequests, type LoadShape, type Requests, type SeedUser } from './load.js';
import { cpuMeter } from './procStats.js';
import { onInterrupt } from './suite.js';
import { startService } from './processes.js';
import { countEvents } from './rebuild.js';

/** At the largest size a request may cost at most this many times what it costs at the smallest. */
export const GROWTH_COST_LIMIT = 1.25;

export const GROWTH_SCENARIOS = ['me', 'refresh', 'login', 'register', 'search'] as const;
export type GrowthScenarioName = (typeof GROWTH_SCENARIOS)[number];

export interface GrowthOptions {
  sizes: number[];
  longSessions: number;
  longRotations: number;
  /** Users sampled for logins, tokens and refresh chains. */
  sample: number;
  http: LoadShape;
  argon2: LoadShape;
  warmupSeconds: number;
  /** The service's environment beyond the defaults (the suite's lifted per-IP limits). */
  serviceEnv: Record<string, string>;
  log: (line: string) => void;
}

export interface GrowthScenario {
  rps: number;
  failed: number;
  latency_ms_p50: number;
  latency_ms_p99: number;
  /** CPU milliseconds per answer: the service's and PostgreSQL's. */
  service_cpu_ms: number;
  postgres_cpu_ms: number;
  /** Rows PostgreSQL read per answer (scans and index fetches). */
  rows_read: number;
}

export interface GrowthSize {
  users: number;
  store_events: number;
  generate_seconds: number;
  rebuild: { seconds: number; events_per_s: number };
  scenarios: Partial<Record<GrowthScenarioName, GrowthScenario>>;
  /** The largest relations: rows (estimated), table and index MiB. */
  relations: Array<{ name: string; rows: number; table_mib: number; index_mib: number }>;
}

export interface GrowthResult {
  sizes: GrowthSize[];
  /** Per scenario: cost (service + PostgreSQL CPU per answer) at the largest size ÷ at the smallest. */
  cost_ratio: Partial<Record<GrowthScenarioName, number>>;
  rebuild_ratio: number;
}

const MIB = 2 ** 20;

export async function measureGrowth(options: GrowthOptions): Promise<GrowthResult> {
  const sizes: GrowthSize[] = [];
  for (const users of options.sizes) sizes.push(await measureSize(users, options));
  const first = sizes[0];
  const last = sizes.at(-1);
  const cost = (s: GrowthScenario | undefined): number => (s ? s.service_cpu_ms + s.postgres_cpu_ms : Number.NaN);
  const cost_ratio: GrowthResult['cost_ratio'] = {};
  for (const name of GROWTH_SCENARIOS) cost_ratio[name] = cost(last?.scenarios[name]) / cost(first?.scenarios[name]);
  return { sizes, cost_ratio, rebuild_ratio: (last?.rebuild.events_per_s ?? 0) / (first?.rebuild.events_per_s ?? 1) };
}

async function measureSize(users: number, options: GrowthOptions): Promise<GrowthSize> {
  const { log } = options;
  const db = await createBenchDatabase();
  const dataDir = mkdtempSync(join(tmpdir(), 'authstream-growth-'));
  const masterKey = randomBytes(32).toString('base64');
  // Ctrl-C must not leave a store of a million users behind.
  const unregister = onInterrupt(async () => {
    await db.drop();
    rmSync(dataDir, { recursive: true, force: true });
  });
  try {
    const config = loadConfig({ DATABASE_URL: db.url, MASTER_KEY: masterKey, DATA_DIR: dataDir, LOG_LEVEL: 'warn' });
    const runtime = await createRuntime(config, { log: { error: (obj, msg) => log(`runtime error: ${msg} ${JSON.stringify(obj)}`) } });
    // The read models' tables exist now; no live projection while filling: the rebuild
    // below builds every read model from the whole store, timed.
    await runtime.projections.stop();
    let sample: GrowthSample;
    let storeEvents: number;
    let generateSeconds: number;
    let rebuild: GrowthSize['rebuild'];
    try {
      const t0 = performance.now();
      sample = await fillGrowthStore(runtime, { users, longSessions: options.longSessions, longRotations: options.longRotations, sample: options.sample },
        await runtime.hasher.hash(PASSWORD), log);
      generateSeconds = (performance.now() - t0) / 1000;
      await runtime.sql.query('analyze eventstore.events');
      storeEvents = await countEvents(runtime);
      log(`growth ${users} users: ${storeEvents} events generated in ${generateSeconds.toFixed(1)} s`);
      const t1 = performance.now();
      await runtime.projections.rebuildAll();
      const seconds = (performance.now() - t1) / 1000;
      rebuild = { seconds, events_per_s: storeEvents / seconds };
      log(`growth ${users} users: every read model rebuilt in ${seconds.toFixed(1)} s (${rebuild.events_per_s.toFixed(0)} events/s)`);
    } finally {
      await runtime.close();
    }
    await vacuumAnalyze(db.url);
    const scenarios = await serveAndMeasure(db, { masterKey, dataDir }, sample, options, users);
    return { users, store_events: storeEvents, generate_seconds: generateSeconds, rebuild, scenarios, relations: await relationSizes(db.url) };
  } finally {
    unregister();
    await db.drop().catch((e: unknown) => log(`could not drop ${db.name}: ${String(e)}`));
    rmSync(dataDir, { recursive: true, force: true });
  }
}

/** As autovacuum would have by the time a store of that size serves (visibility map, statistics). */
async function vacuumAnalyze(url: string): Promise<void> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    await client.query('vacuum analyze');
  } finally {
    await client.end();
  }
}

async function serveAndMeasure(
  db: { url: string; name: string }, keys: { masterKey: string; dataDir: string }, sample: GrowthSample, options: GrowthOptions, users: number,
): Promise<GrowthSize['scenarios']> {
  const { log } = options;
  const service = await startService({ databaseUrl: db.url, masterKey: keys.masterKey, dataDir: keys.dataDir, env: options.serviceEnv });
  const reader = await dbReader(db.url);
  try {
    const signIn = async (email: string): Promise<SeedUser> => {
      const res = await fetch(`${service.url}/v1/auth/login`, {
        method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ email, password: PASSWORD }),
      });
      const body = (await res.json()) as { access_token: string; refresh_token: string; session_id: string };
      if (res.status !== 200) throw new Error(`growth: signing in ${email}: ${res.status} ${JSON.stringify(body)}`);
      return { email, password: PASSWORD, accessToken: body.access_token, refreshToken: body.refresh_token, sessionId: body.session_id };
    };
    const admin = await signIn(sample.adminEmail);
    const signedIn: SeedUser[] = [];
    for (const email of sample.emails.slice(0, options.http.connections * 2)) signedIn.push(await signIn(email));
    const logins = sample.emails.map((email) => ({ email, password: PASSWORD, accessToken: '', refreshToken: '', sessionId: '' }));
    const tag = randomBytes(3).toString('hex');

    const out: GrowthSize['scenarios'] = {};
    const timed = async (name: GrowthScenarioName, requests: Requests, shape: LoadShape): Promise<void> => {
      let start: { counters: Awaited<ReturnType<typeof reader.read>>; meter: ReturnType<typeof cpuMeter>; t: number } | undefined;
      let end: { rows: number; service: number; postgres: number } | undefined;
      const r = await measure(requests, shape, options.warmupSeconds, {
        before: async () => {
          start = { counters: await reader.read(), meter: cpuMeter(service.pid, db.name), t: performance.now() };
        },
        after: async () => {
          if (!start) return;
          const seconds = (performance.now() - start.t) / 1000;
          const cpu = start.meter.end();
          const cores = availableParallelism();
          end = { rows: counterDelta(start.counters, await reader.read()).rows_read, service: cpu.service * cores * seconds, postgres: cpu.postgres * cores * seconds };
        },
      });
      if (!end || r.ok === 0) throw new Error(`growth ${name}: nothing answered (${JSON.stringify(r.status)})`);
      out[name] = {
        rps: r.rps, failed: r.failed, latency_ms_p50: r.latency_ms_p50, latency_ms_p99: r.latency_ms_p99,
        service_cpu_ms: (end.service * 1000) / r.ok, postgres_cpu_ms: (end.postgres * 1000) / r.ok, rows_read: end.rows / r.ok,
      };
      const s = out[name];
      log(`growth ${users} users, ${name}: ${s.rps.toFixed(0)}/s, p50 ${s.latency_ms_p50} ms, ${(s.service_cpu_ms + s.postgres_cpu_ms).toFixed(3)} ms CPU and ${s.rows_read.toFixed(0)} rows read an answer, ${s.failed} failed`);
    };

    await timed('me', meRequests(service.url, signedIn), options.http);
    // Half the chains start on sessions with a month of refreshes, read cold by this service.
    const tokens = [...sample.longTokens, ...sample.tokens].slice(0, Math.max(options.http.connections * 2, sample.longTokens.length * 2));
    await timed('refresh', refreshRequests(service.url, tokens).options, options.http);
    await timed('login', loginRequests(service.url, logins), options.argon2);
    await timed('register', registerRequests(service.url, tag), options.argon2);
    await timed('search', searchRequests(service.url, admin.accessToken, users), options.http);
    return out;
  } finally {
    await reader.close();
    await service.stop();
  }
}

/** GET /v1/admin/users?query=: an operator looking up one user by the part of their email before the domain. */
function searchRequests(baseUrl: string, adminToken: string, users: number): Requests {
  let n = 0;
  return {
    url: baseUrl,
    headers: { authorization: `Bearer ${adminToken}` },
    requests: [{
      method: 'GET',
      setupRequest: (req) => {
        const local = growthUser((n++ * 7919) % users).email.split('@')[0] ?? '';
        return { ...req, path: `/v1/admin/users?limit=20&query=${encodeURIComponent(`${local}@`)}` };
      },
    }],
  };
}

async function relationSizes(url: string): Promise<GrowthSize['relations']> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    const { rows } = await client.query<{ name: string; rows: string; table_bytes: string; index_bytes: string }>(
      `select n.nspname || '.' || c.relname as name, greatest(c.reltuples, 0)::bigint as rows,
              pg_table_size(c.oid) as table_bytes, pg_indexes_size(c.oid) as index_bytes
       from pg_class c join pg_namespace n on n.oid = c.relnamespace
       where c.relkind = 'r' and n.nspname not in ('pg_catalog', 'information_schema')
       order by pg_total_relation_size(c.oid) desc limit 8`);
    return rows.map((r) => ({ name: r.name, rows: Number(r.rows), table_mib: Number(r.table_bytes) / MIB, index_mib: Number(r.index_bytes) / MIB }));
  } finally {
    await client.end();
  }
}


/** The growth shape of each suite mode. */
export const GROWTH_MODES: Record<'full' | 'quick' | 'test', Pick<GrowthOptions, 'sizes' | 'longSessions' | 'longRotations' | 'sample'>> = {
  // A month of refreshes every five minutes: 8,640 events a long session.
  full: { sizes: [10_000, 100_000, 1_000_000], longSessions: 20, longRotations: 8_640, sample: 400 },
  quick: { sizes: [2_000, 20_000], longSessions: 8, longRotations: 2_000, sample: 200 },
  test: { sizes: [60, 150], longSessions: 1, longRotations: 30, sample: 20 },
};

/** The growth result as a text table: a row per size and scenario, and the ratios. */
export function growthTable(result: GrowthResult): string {
  const lines = ['users | events | rebuild events/s | scenario | answers/s | p50 ms | CPU ms/answer (service + PostgreSQL) | rows read/answer'];
  for (const size of result.sizes) {
    for (const name of GROWTH_SCENARIOS) {
      const s = size.scenarios[name];
      if (!s) continue;
      lines.push([
        size.users.toLocaleString('en'), size.store_events.toLocaleString('en'), size.rebuild.events_per_s.toFixed(0), name,
        s.rps.toFixed(0), String(s.latency_ms_p50), `${(s.service_cpu_ms + s.postgres_cpu_ms).toFixed(3)} (${s.service_cpu_ms.toFixed(3)} + ${s.postgres_cpu_ms.toFixed(3)})`,
        s.rows_read.toFixed(1),
      ].join(' | '));
    }
  }
  const ratios = GROWTH_SCENARIOS.map((n) => `${n} ${(result.cost_ratio[n] ?? Number.NaN).toFixed(2)}×`).join(', ');
  lines.push('', `cost at the largest size ÷ the smallest (limit ${GROWTH_COST_LIMIT}×): ${ratios}; rebuild rate ${result.rebuild_ratio.toFixed(2)}×`);
  for (const size of result.sizes) {
    lines.push(`${size.users.toLocaleString('en')} users: ${size.relations.slice(0, 5).map((r) => `${r.name} ${r.table_mib.toFixed(1)} + ${r.index_mib.toFixed(1)} MiB`).join(', ')}`);
  }
  return lines.join('\n');
}
