/**
 * The benchmark suite: a fresh database, the service in a child process, load over
 * loopback, then the in-process measurements; see docs/benchmarks.md for the method.
 *
 * Order: argon2 (alone on the machine) → service, baseline and peer (oidc-provider) children
 * → users to start from → baseline, GET /v1/me, register, login, refresh (with the lag
 * probe), the peer's refresh right after it → RSS → the children stop → store filled to the
 * rebuild size → rebuilds → database dropped.
 */
import { randomBytes } from 'node:crypto';
import { mkdtempSync, mkdirSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { Session } from 'node:inspector/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { loadConfig } from '../src/config.js';
import { createRuntime } from '../src/composition/runtime.js';
import { measureArgon2 } from './argon2.js';
import { counterDelta, createBenchDatabase, dbReader, type BenchDatabase, type DbCounters } from './db.js';
import { describeMachine, measuredCommit } from './docs.js';
import { startLagProbe } from './lag.js';
import { peerRefreshRequests, startPeer } from './peer.js';
import {
  baselineRequests, loginRequests, measure, meRequests, PASSWORD, refreshRequests, registerRequests, seedUsers,
  type LoadShape, type Requests,
} from './load.js';
import { cpuMeter, procStatusBytes, rssSampler, waitForQuiet } from './procStats.js';
import { startBaseline, startService, type Child } from './processes.js';
import { formatSummary, loadProfile, monotonicUs, summariseProfile, type ProfileSummary, type Window } from './profile.js';
import { measureRebuild } from './rebuild.js';
import { checkTargets, warningsOf, type HttpScenario, type Mode, type Scenarios, type SuiteResult } from './report.js';

export const SCENARIOS = ['argon2', 'baseline', 'me', 'register', 'login', 'refresh', 'peer', 'rebuild'] as const;
export type ScenarioName = (typeof SCENARIOS)[number];

export interface SuiteOptions {
  mode: Mode;
  /** Scenarios to run (all when omitted). The lag probe runs with refresh, RSS with any HTTP scenario. */
  only?: ReadonlySet<ScenarioName>;
  /** Connections of the cheap HTTP scenarios (baseline, me, refresh, peer) and of the argon2-bound ones (register, login). */
  connections: { http: number; argon2: number };
  /** Measured seconds per HTTP scenario, after `warmupSeconds` of discarded load. */
  seconds: number;
  warmupSeconds: number;
  /** Count bounds per measured run. */
  maxRequests: { http: number; argon2: number };
  argon2Hashes: number;
  /** Events in the store the rebuild replays (filled up to this). */
  rebuildEvents: number;
  /**
   * Users registered before the scenarios (login and /v1/me users, and the refresh chains:
   * at least twice the HTTP connections, since the warm-up ends with a request in flight
   * on every connection whose new token is never read).
   */
  seedUsers: number;
  /** Wait up to this long for a quiet machine (< 15 % busy) before measuring. */
  waitQuietSeconds?: number;
  /** When set: the service runs under --cpu-prof and the rebuild under the inspector, profiles land here. */
  profileDir?: string;
  log?: (line: string) => void;
}

export const MODES: Record<Mode, Omit<SuiteOptions, 'mode'>> = {
  full: {
    connections: { http: 32, argon2: 32 }, seconds: 10, warmupSeconds: 2, waitQuietSeconds: 180,
    maxRequests: { http: 2_000_000, argon2: 10_000 }, argon2Hashes: 20, rebuildEvents: 100_000, seedUsers: 72,
  },
  quick: {
    connections: { http: 16, argon2: 16 }, seconds: 3, warmupSeconds: 1,
    maxRequests: { http: 500_000, argon2: 2_000 }, argon2Hashes: 6, rebuildEvents: 5_000, seedUsers: 40,
  },
  test: {
    connections: { http: 4, argon2: 2 }, seconds: 1, warmupSeconds: 0.5,
    maxRequests: { http: 100_000, argon2: 500 }, argon2Hashes: 3, rebuildEvents: 1_000, seedUsers: 12,
  },
};

/**
 * The service's environment beyond the defaults. Every request of the suite comes from one
 * loopback address, so the per-IP limits (password checks 60/min, registrations 300/min by
 * default) are lifted; the per-identifier throttle and the argon2 parameters stay as they are.
 */
export const SERVICE_ENV: Record<string, string> = { LOGIN_RATE_PER_IP_PER_MINUTE: '1000000', REGISTER_RATE_PER_IP_PER_MINUTE: '1000000' };

const MIB = 2 ** 20;

/** What a run must undo if the process is interrupted (Ctrl-C): children and the database. */
const pendingCleanups = new Set<() => Promise<void>>();

/**
 * Registers what must be undone if the run is interrupted (the growth scenario's database
 * and service too); returns the function that unregisters it once done.
 */
export function onInterrupt(cleanUp: () => Promise<void>): () => void {
  pendingCleanups.add(cleanUp);
  return () => pendingCleanups.delete(cleanUp);
}

/** Stops the children and drops the databases of the runs in progress (for signal handlers). */
export async function cleanUpInterruptedRuns(): Promise<void> {
  await Promise.all([...pendingCleanups].map((c) => c().catch(() => {})));
}

export async function runSuite(options: SuiteOptions): Promise<SuiteResult> {
  const log = options.log ?? (() => {});
  const wants = (s: ScenarioName): boolean => !options.only || options.only.has(s);
  const started = performance.now();
  const commit = measuredCommit(fileURLToPath(new URL('.', import.meta.url)));
  const scenarios: Partial<Scenarios> = {};
  const profiles: Record<string, ProfileSummary> = {};
  const tag = randomBytes(3).toString('hex');
  const masterKey = randomBytes(32).toString('base64');
  const dataDir = mkdtempSync(join(tmpdir(), 'authstream-bench-'));
  const children: Child[] = [];
  const closeAfter: Array<() => Promise<unknown>> = [];
  let db: BenchDatabase | undefined;
  const cleanUp = async (): Promise<void> => {
    for (const close of closeAfter.splice(0)) await close().catch(() => {});
    await Promise.all(children.splice(0).map((child) => child.stop(3000).catch(() => {})));
    await db?.drop().catch((e: unknown) => log(`could not drop ${db?.name}: ${String(e)}`));
    rmSync(dataDir, { recursive: true, force: true });
  };
  pendingCleanups.add(cleanUp);

  try {
    db = await createBenchDatabase();
    log(`database ${db.name}`);
    const machine = describeMachine(db.serverVersion);
    let busyBefore: number | undefined;
    if (options.waitQuietSeconds) {
      busyBefore = await waitForQuiet(options.waitQuietSeconds * 1000, 0.15, (busy) =>
        log(`machine busy (${(busy * 100).toFixed(0)} % of all cores) before the run: waiting for quiet`));
      if (busyBefore >= 0.15) log(`WARNING: the machine is still ${(busyBefore * 100).toFixed(0)} % busy; numbers will be low`);
    }

    if (wants('argon2')) {
      scenarios.argon2 = await measureArgon2(options.argon2Hashes);
      log(`argon2id: ${scenarios.argon2.hash_ms_mean.toFixed(1)} ms a hash → ceiling ${scenarios.argon2.login_ceiling_per_s.toFixed(1)} logins/s; every core hashing: ${scenarios.argon2.all_cores_hashes_per_s.toFixed(1)} hashes/s`);
    }

    const httpScenarios = (['baseline', 'me', 'register', 'login', 'refresh', 'peer'] as const).filter(wants);
    if (httpScenarios.length > 0) {
      const profileFlags = options.profileDir
        ? ['--cpu-prof', `--cpu-prof-dir=${options.profileDir}`, `--cpu-prof-name=service-${httpScenarios.join('-')}-${tag}.cpuprofile`]
        : [];
      if (options.profileDir) mkdirSync(options.profileDir, { recursive: true });
      const [baseline, peer, service] = await Promise.all([
        wants('baseline') ? startBaseline().then((c) => (children.push(c), c)) : undefined,
        // As many refresh chains as authstream's refresh scenario gets (one per seeded user).
        wants('peer') ? startPeer(options.seedUsers).then((c) => (children.push(c), c)) : undefined,
        startService({ databaseUrl: db.url, masterKey, dataDir, env: SERVICE_ENV, nodeFlags: profileFlags }).then((c) => (children.push(c), c)),
      ]);
      log(`service pid ${service.pid} at ${service.url}${baseline ? `, baseline pid ${baseline.pid} at ${baseline.url}` : ''}${peer ? `, peer pid ${peer.pid} at ${peer.url}` : ''}`);
      const idleRss = procStatusBytes(service.pid, 'VmRSS') ?? 0;
      const rss = rssSampler(service.pid);

      const seeds = await seedUsers(service.url, options.seedUsers, tag);
      const reader = await dbReader(db.url);
      closeAfter.push(() => reader.close());
      const http: LoadShape = { connections: options.connections.http, seconds: options.seconds, maxRequests: options.maxRequests.http };
      const slow: LoadShape = { connections: options.connections.argon2, seconds: options.seconds, maxRequests: options.maxRequests.argon2 };
      const database = db.name;
      const windows = new Map<string, Window>();
      const timed = async (
        name: (typeof httpScenarios)[number],
        requests: Requests,
        shape: LoadShape,
        extra?: { before?: () => void; server?: Child },
      ): Promise<HttpScenario> => {
        const server = extra?.server ?? service;
        rss.mark();
        // Started after the warm-up, read right after the measured run.
        let started: { meter: ReturnType<typeof cpuMeter>; counters: DbCounters; fromUs: number } | undefined;
        let ended: { cpu: HttpScenario['cpu']; counters: DbCounters } | undefined;
        const r = await measure(requests, shape, options.warmupSeconds, {
          before: async () => {
            started = { counters: await reader.read(), meter: cpuMeter(server.pid, database), fromUs: monotonicUs() };
            extra?.before?.();
          },
          after: async () => {
            if (!started) return;
            const cpu = started.meter.end();
            windows.set(name, { fromUs: started.fromUs, toUs: monotonicUs() });
            ended = { cpu, counters: counterDelta(started.counters, await reader.read()) };
          },
        });
        if (!ended) throw new Error(`${name}: the measurement hooks did not run`);
        const per = (n: number): number => (r.ok > 0 ? n / r.ok : 0);
        const result: HttpScenario = {
          ...r,
          cpu: ended.cpu,
          service_rss_peak_mib: rss.peakSinceMark() / MIB,
          db: { transactions: per(ended.counters.commits), rows_read: per(ended.counters.rows_read), rows_written: per(ended.counters.rows_written) },
        };
        log(`${name}: ${r.rps.toFixed(1)} req/s, p50 ${r.latency_ms_p50} ms, p99 ${r.latency_ms_p99} ms, ${r.failed} failed`);
        return result;
      };

      if (baseline) scenarios.baseline = await timed('baseline', baselineRequests(baseline.url), http, { server: baseline });
      if (wants('me')) scenarios.me = await timed('me', meRequests(service.url, seeds), http);
      if (wants('register')) scenarios.register = await timed('register', registerRequests(service.url, tag), slow);
      if (wants('login')) scenarios.login = await timed('login', loginRequests(service.url, seeds), slow);
      if (wants('refresh')) {
        const chain = refreshRequests(service.url, seeds.map((s) => s.refreshToken));
        const probe = await startLagProbe(db.url, chain.latestSession);
        let refreshed: HttpScenario;
        try {
          refreshed = await timed('refresh', chain.options, http, { before: () => probe.begin() });
        } finally {
          scenarios.lag = await probe.stop();
        }
        scenarios.refresh = { ...refreshed, session_stream_events: await reader.streamLengths(seeds.map((u) => `session-${u.sessionId}`)) };
        log(`lag: ${scenarios.lag.samples} samples, p50 ${scenarios.lag.p50_ms.toFixed(1)} ms, p99 ${scenarios.lag.p99_ms.toFixed(1)} ms`);
      }
      if (peer) scenarios.peer = await timed('peer', peerRefreshRequests(peer).options, http, { server: peer });

      rss.stop();
      scenarios.rss = {
        idle_mib: idleRss / MIB,
        peak_under_load_mib: rss.peak() / MIB,
        end_mib: (procStatusBytes(service.pid, 'VmRSS') ?? 0) / MIB,
        hwm_mib: (procStatusBytes(service.pid, 'VmHWM') ?? 0) / MIB,
      };
      log(`service RSS: peak ${scenarios.rss.peak_under_load_mib.toFixed(1)} MiB, end ${scenarios.rss.end_mib.toFixed(1)} MiB`);
      await Promise.all(children.splice(0).map((child) => child.stop()));
      if (options.profileDir) {
        const dir = options.profileDir;
        const file = readdirSync(dir).find((f) => f.includes(tag) && f.startsWith('service-'));
        if (file) {
          // One summary per scenario: the samples of its measured seconds only.
          const profile = loadProfile(join(dir, file));
          for (const [name, window] of windows) {
            const summary = summariseProfile(profile, 30, window);
            profiles[`service:${name}`] = summary;
            log(formatSummary(summary, `service during ${name} (${join(dir, file)})`));
          }
        }
      }
    }

    if (wants('rebuild')) {
      const config = loadConfig({ DATABASE_URL: db.url, MASTER_KEY: masterKey, DATA_DIR: dataDir, LOG_LEVEL: 'warn' });
      const runtime = await createRuntime(config, { log: { error: (obj, msg) => log(`runtime error: ${msg} ${JSON.stringify(obj)}`) } });
      try {
        const passwordHash = await runtime.hasher.hash(PASSWORD);
        let profiler: Awaited<ReturnType<typeof startInspectorProfile>> | undefined;
        scenarios.rebuild = await measureRebuild(runtime, options.rebuildEvents, passwordHash, db.name, log, async () => {
          if (options.profileDir) profiler = await startInspectorProfile();
        });
        if (profiler && options.profileDir) {
          const file = join(options.profileDir, `rebuild-${tag}.cpuprofile`);
          await profiler.stop(file);
          profiles.rebuild = summariseProfile(loadProfile(file));
          log(formatSummary(profiles.rebuild, `${file} (bench process, the rebuilds)`));
        }
      } finally {
        await runtime.close();
      }
    }

    const result: SuiteResult = {
      schema: 1,
      mode: options.mode,
      date: new Date().toISOString(),
      duration_s: (performance.now() - started) / 1000,
      machine,
      settings: {
        connections: options.connections,
        seconds: options.seconds,
        warmup_seconds: options.warmupSeconds,
        max_requests: options.maxRequests,
        argon2_hashes: options.argon2Hashes,
        rebuild_events: options.rebuildEvents,
        seed_users: options.seedUsers,
        service_env: SERVICE_ENV,
        ...(commit === undefined ? {} : { commit }),
        ...(busyBefore === undefined ? {} : { machine_busy_before: Math.round(busyBefore * 1000) / 1000 }),
      },
      scenarios,
      targets: checkTargets(scenarios),
      warnings: warningsOf(scenarios, busyBefore),
    };
    if (Object.keys(profiles).length > 0) result.profiles = profiles;
    return result;
  } finally {
    pendingCleanups.delete(cleanUp);
    await cleanUp();
  }
}

/** Profiles this process through the inspector (the rebuild runs in-process). */
async function startInspectorProfile(): Promise<{ stop(file: string): Promise<void> }> {
  const session = new Session();
  session.connect();
  await session.post('Profiler.enable');
  await session.post('Profiler.start');
  return {
    async stop(file) {
      const { profile } = await session.post('Profiler.stop');
      writeFileSync(file, JSON.stringify(profile));
      session.disconnect();
    },
  };
}
