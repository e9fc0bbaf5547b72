/**
 * The suite's result: its JSON shape, the targets of the issue checked against it, and
 * the one table printed to the terminal (and copied into docs/benchmarks.md).
 */
import type { Argon2Result } from './argon2.js';
import type { LagResult } from './lag.js';
import type { LoadResult } from './load.js';
import type { ProfileSummary } from './profile.js';
import type { CpuSplit } from './procStats.js';
import type { RebuildResult } from './rebuild.js';

export type Mode = 'full' | 'quick' | 'test';

export interface Machine {
  cores: number;
  cpu_model: string;
  memory_gib: number;
  kernel: string;
  node: string;
  postgres: string;
}

/** Database work per 2xx answer (from pg_stat_database; approximate, see bench/db.ts). */
export interface DbPerRequest {
  /** Transactions, single-statement ones included: about the statements outside explicit transactions plus one per transaction. */
  transactions: number;
  rows_read: number;
  rows_written: number;
}

/** `service_rss_peak_mib`: the service's largest VmRSS during the measured run (and its warm-up). */
export type HttpScenario = LoadResult & { cpu: CpuSplit; db: DbPerRequest; service_rss_peak_mib: number };

export interface RssResult {
  /** VmRSS once started, before any request. */
  idle_mib: number;
  /** Largest VmRSS sampled (every 200 ms) while any HTTP scenario ran. */
  peak_under_load_mib: number;
  /** VmRSS right after the last scenario. */
  end_mib: number;
  /** VmHWM: the kernel's peak resident set of the process. */
  hwm_mib: number;
}

export interface Scenarios {
  baseline: HttpScenario;
  me: HttpScenario;
  register: HttpScenario;
  login: HttpScenario;
  /** With the length the refreshed session streams reached (a refresh reads its whole stream). */
  refresh: HttpScenario & { session_stream_events: { mean: number; max: number } };
  /** The peer's refresh: oidc-provider's refresh_token grant (in memory), same load shape as `refresh`. */
  peer: HttpScenario;
  argon2: Argon2Result;
  rebuild: RebuildResult;
  lag: LagResult;
  rss: RssResult;
}

export interface Target {
  id: 'login' | 'refresh' | 'me' | 'rebuild' | 'lag' | 'rss';
  label: string;
  /** What is compared, in `unit`. */
  measured: number;
  /** The bound it is compared with, in `unit`. */
  bound: number;
  unit: string;
  direction: 'at_least' | 'below';
  /** The target as written in the issue. */
  text: string;
  met: boolean;
}

export interface SuiteResult {
  schema: 1;
  mode: Mode;
  date: string;
  duration_s: number;
  machine: Machine;
  settings: Record<string, unknown>;
  scenarios: Partial<Scenarios>;
  targets: Target[];
  /** What makes this run's numbers less trustworthy (a busy machine, failed requests). */
  warnings: string[];
  /** With --profile: where the time went, per scenario. */
  profiles?: Record<string, ProfileSummary>;
}

/** authstream's refreshes ÷ the peer's (oidc-provider, in memory), in the same run. */
export const PEER_RATIO_TARGET = 1.0;
/** GET /v1/me ÷ bare Fastify GET /. */
export const ME_RATIO_TARGET = 0.5;
/** Logins/s ÷ argon2 hashes/s with every core hashing at once, measured in the same run. */
export const LOGIN_RATIO_TARGET = 0.9;
export const REBUILD_TARGET_PER_S = 20_000;
export const LAG_P99_TARGET_MS = 50;
export const RSS_TARGET_MIB = 200;

/** Checks the issue's targets against what was measured (skipping what was not). */
export function checkTargets(s: Partial<Scenarios>): Target[] {
  const out: Target[] = [];
  const atLeast = (t: Omit<Target, 'direction' | 'met'>): void => {
    out.push({ ...t, direction: 'at_least', met: t.measured >= t.bound });
  };
  const below = (t: Omit<Target, 'direction' | 'met'>): void => {
    out.push({ ...t, direction: 'below', met: t.measured < t.bound });
  };
  if (s.login && s.argon2) {
    atLeast({
      id: 'login', label: 'logins ÷ every-core hashing', measured: s.login.rps / s.argon2.all_cores_hashes_per_s,
      bound: LOGIN_RATIO_TARGET, unit: '×', text: `≥ ${fmt(LOGIN_RATIO_TARGET, 2)} × every-core hashing (${fmt(s.argon2.all_cores_hashes_per_s, 1)}/s)`,
    });
  }
  // Against the peer measured in the same run only: an absolute rate says more about the machine than the code.
  if (s.refresh && s.peer) {
    atLeast({
      id: 'refresh', label: 'refreshes ÷ oidc-provider', measured: s.refresh.rps / s.peer.rps, bound: PEER_RATIO_TARGET,
      unit: '×', text: `≥ ${fmt(PEER_RATIO_TARGET, 2)} × oidc-provider (${fmt(s.peer.rps)}/s)`,
    });
  }
  if (s.me && s.baseline) {
    atLeast({
      id: 'me', label: 'GET /v1/me ÷ bare Fastify', measured: s.me.rps / s.baseline.rps, bound: ME_RATIO_TARGET,
      unit: '×', text: `≥ ${fmt(ME_RATIO_TARGET, 2)} × bare Fastify`,
    });
  }
  if (s.rebuild) {
    atLeast({
      id: 'rebuild', label: 'rebuild, every read model', measured: s.rebuild.all.events_per_s,
      bound: REBUILD_TARGET_PER_S, unit: 'events/s', text: '≥ 20,000 events/s',
    });
  }
  if (s.lag) {
    below({ id: 'lag', label: 'projection lag p99', measured: s.lag.p99_ms, bound: LAG_P99_TARGET_MS, unit: 'ms', text: 'p99 < 50 ms' });
  }
  if (s.rss) {
    below({ id: 'rss', label: 'service RSS under load', measured: s.rss.peak_under_load_mib, bound: RSS_TARGET_MIB, unit: 'MiB', text: '< 200 MiB' });
  }
  return out;
}

/** Warnings about a run: other processes taking CPU, failed requests, lag samples that timed out. */
export function warningsOf(s: Partial<Scenarios>, busyBefore: number | undefined): string[] {
  const out: string[] = [];
  if (busyBefore !== undefined && busyBefore >= 0.15) {
    out.push(`the machine was ${fmt(busyBefore * 100)} % busy before the run started`);
  }
  for (const name of ['baseline', 'me', 'register', 'login', 'refresh', 'peer'] as const) {
    const r = s[name];
    if (!r) continue;
    if (r.cpu.other > 0.1) out.push(`other processes used ${fmt(r.cpu.other * 100)} % of the CPU during ${name}`);
    if (r.failed > 0) out.push(`${name}: ${fmt(r.failed)} requests failed (${JSON.stringify(r.status)})`);
  }
  if (s.lag && s.lag.timed_out > 0) out.push(`lag: ${s.lag.timed_out} samples not seen within the probe's timeout`);
  return out;
}

/// Formatting

export function fmt(n: number | undefined, digits = 0): string {
  if (n === undefined || !Number.isFinite(n)) return '–';
  return n.toLocaleString('en-US', { minimumFractionDigits: digits, maximumFractionDigits: digits });
}

/** Milliseconds; autocannon records whole milliseconds, so its 0 reads "< 1 ms". */
const ms = (n: number | undefined): string => {
  if (n === undefined || !Number.isFinite(n)) return '–';
  if (n === 0) return '< 1 ms';
  return `${fmt(n, n < 10 ? 1 : 0)} ms`;
};

export interface Row {
  scenario: string;
  throughput: string;
  p50: string;
  p99: string;
  reference: string;
  ratio: string;
  target: string;
  met: string;
}

const verdict = (targets: Target[], id: Target['id']): { text: string; met: string } => {
  const t = targets.find((x) => x.id === id);
  return t ? { text: t.text, met: t.met ? 'yes' : 'NO' } : { text: '–', met: '–' };
};

/** The rows of the table, in the order of the issue. */
export function rows(result: SuiteResult): Row[] {
  const s = result.scenarios;
  const t = result.targets;
  const out: Row[] = [];
  const http = (name: string, r: HttpScenario | undefined, reference: string, ratio: string, id?: Target['id']): void => {
    if (!r) return;
    const v = id ? verdict(t, id) : { text: '–', met: '–' };
    out.push({
      scenario: name, throughput: `${fmt(r.rps)} req/s`, p50: ms(r.latency_ms_p50), p99: ms(r.latency_ms_p99),
      reference, ratio, target: v.text, met: v.met,
    });
  };
  const ceiling = s.argon2?.login_ceiling_per_s;
  http('bare Fastify GET / (baseline)', s.baseline, '–', '1.00');
  http('GET /v1/me', s.me, s.baseline ? `baseline ${fmt(s.baseline.rps)} req/s` : '–',
    s.me && s.baseline ? `${fmt(s.me.rps / s.baseline.rps, 2)} × baseline` : '–', 'me');
  http('POST /v1/auth/register', s.register, ceiling ? `login ceiling ${fmt(ceiling, 1)}/s` : '–',
    s.register && ceiling ? `${fmt(s.register.rps / ceiling, 2)} × ceiling` : '–');
  const allCores = s.argon2?.all_cores_hashes_per_s;
  http('POST /v1/auth/login', s.login, allCores !== undefined && ceiling !== undefined
    ? `every-core hashing ${fmt(allCores, 1)}/s${s.login ? `; ${fmt(s.login.rps / ceiling, 2)} × ceiling ${fmt(ceiling, 1)}/s` : ''}`
    : '–',
    s.login && allCores ? `${fmt(s.login.rps / allCores, 2)} × every-core hashing` : '–', 'login');
  http('POST /v1/auth/refresh', s.refresh, s.peer ? `oidc-provider ${fmt(s.peer.rps)} req/s` : '–',
    s.refresh && s.peer ? `${fmt(s.refresh.rps / s.peer.rps, 2)} × oidc-provider` : '–', 'refresh');
  http('oidc-provider POST /token refresh (peer, in memory)', s.peer, '–', '1.00');
  if (s.argon2) {
    const a = s.argon2;
    out.push({
      scenario: `argon2id hash (m=${a.params.memoryCost} KiB, t=${a.params.timeCost}, p=${a.params.parallelism})`,
      throughput: `${fmt(1000 / a.hash_ms_mean, 1)} hashes/s per core`, p50: ms(a.hash_ms_p50), p99: ms(a.hash_ms_p99),
      reference: `${a.cores} cores ÷ ${fmt(a.hash_ms_mean, 1)} ms`, ratio: `ceiling ${fmt(a.login_ceiling_per_s, 1)} logins/s`,
      target: '–', met: '–',
    });
    if (a.all_cores_hashes_per_s !== undefined) {
      out.push({
        scenario: `argon2id, ${a.cores} hashes at once (every core)`,
        throughput: `${fmt(a.all_cores_hashes_per_s, 1)} hashes/s`, p50: '–', p99: '–',
        reference: `ceiling ${fmt(a.login_ceiling_per_s, 1)}/s`,
        ratio: `${fmt(a.all_cores_hashes_per_s / a.login_ceiling_per_s, 2)} × ceiling`,
        target: '–', met: '–',
      });
    }
  }
  if (s.rebuild) {
    const r = s.rebuild;
    const v = verdict(t, 'rebuild');
    const each = r.projections.map((p) => `${p.name} ${fmt(p.events_per_s / 1000, 0)}k`).join(', ');
    out.push({
      scenario: `projection rebuild, all (${r.all.method})`, throughput: `${fmt(r.all.events_per_s)} events/s`,
      p50: '–', p99: '–', reference: `${fmt(r.store_events)} events; alone: ${each}`,
      ratio: `${fmt(r.all.events_per_s / REBUILD_TARGET_PER_S, 2)} × target`, target: v.text, met: v.met,
    });
  }
  if (s.lag) {
    const v = verdict(t, 'lag');
    out.push({
      scenario: 'live projection lag (under refresh load)', throughput: `${fmt(s.lag.samples)} samples`,
      p50: ms(s.lag.p50_ms), p99: ms(s.lag.p99_ms), reference: `max ${ms(s.lag.max_ms)}`,
      ratio: `${fmt(s.lag.p99_ms / LAG_P99_TARGET_MS, 2)} × limit`, target: v.text, met: v.met,
    });
  }
  if (s.rss) {
    const v = verdict(t, 'rss');
    out.push({
      scenario: 'service RSS (peak under load)', throughput: `${fmt(s.rss.peak_under_load_mib, 1)} MiB`, p50: '–', p99: '–',
      reference: `idle ${fmt(s.rss.idle_mib, 1)} MiB, end ${fmt(s.rss.end_mib, 1)} MiB, VmHWM ${fmt(s.rss.hwm_mib, 1)} MiB`,
      ratio: `${fmt(s.rss.peak_under_load_mib / RSS_TARGET_MIB, 2)} × limit`, target: v.text, met: v.met,
    });
  }
  return out;
}

const HEADER: Row = {
  scenario: 'Scenario', throughput: 'Throughput', p50: 'p50', p99: 'p99', reference: 'Ceiling / baseline',
  ratio: 'Ratio', target: 'Target', met: 'Met',
};
const COLUMNS = Object.keys(HEADER) as Array<keyof Row>;

/** The table for a terminal. */
export function textTable(result: SuiteResult): string {
  const all = [HEADER, ...rows(result)];
  const widths = COLUMNS.map((c) => Math.max(...all.map((r) => r[c].length)));
  const line = (r: Row): string => COLUMNS.map((c, i) => r[c].padEnd(widths[i] ?? 0)).join('  ').trimEnd();
  const rule = widths.map((w) => '-'.repeat(w)).join('  ');
  return [line(HEADER), rule, ...all.slice(1).map(line)].join('\n');
}

/** The same table in Markdown. */
export function markdownTable(result: SuiteResult): string {
  const esc = (s: string): string => s.replaceAll('|', '\\|');
  const line = (r: Row): string => `| ${COLUMNS.map((c) => esc(r[c])).join(' | ')} |`;
  return [line(HEADER), `|${COLUMNS.map(() => '---').join('|')}|`, ...rows(result).map(line)].join('\n');
}
