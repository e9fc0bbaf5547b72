/**
 * What /proc tells about the suite's processes: resident memory, CPU time (of a process,
 * of its threads, of PostgreSQL's processes for one database) and how busy the machine is.
 */
import { readFileSync, readdirSync } from 'node:fs';

/** A /proc/<pid>/status field in bytes (VmRSS, VmHWM); null when unreadable. */
export function procStatusBytes(pid: number, field: 'VmRSS' | 'VmHWM'): number | null {
  try {
    const m = new RegExp(`^${field}:\\s+(\\d+) kB`, 'm').exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return m?.[1] ? Number(m[1]) * 1024 : null;
  } catch {
    return null;
  }
}

/** Clock ticks per second of /proc/<pid>/stat times (USER_HZ: 100 on Linux). */
const TICKS_PER_SECOND = 100;

/** User + system CPU seconds from a /proc stat file (of a process or a thread); 0 when it is gone. */
function statCpuSeconds(path: string): number {
  try {
    const stat = readFileSync(path, 'utf8');
    // The command name is in parentheses and may hold spaces: split after the last ')'.
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    // Fields 14 and 15 of the line (utime, stime) are 11 and 12 after the name and state.
    return (Number(fields[11]) + Number(fields[12])) / TICKS_PER_SECOND;
  } catch {
    return 0;
  }
}

/** CPU seconds (user + system) a process has used; 0 when it is gone. */
const procCpuSeconds = (pid: number): number => statCpuSeconds(`/proc/${pid}/stat`);

/**
 * Pids of the PostgreSQL processes working for `database`: its backends and the server's
 * shared processes (postmaster, WAL writer, checkpointer…). Backends of other databases
 * (other people's tests on the same server) are left out: they count as "other".
 */
export function postgresPids(database: string): number[] {
  const pids: number[] = [];
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      if (readFileSync(`/proc/${entry}/comm`, 'utf8').trim() !== 'postgres') continue;
      // "postgres: 15/main: <user> <database> <client> <state>" for a backend,
      // "postgres: 15/main: autovacuum worker <database>" for autovacuum.
      const title = readFileSync(`/proc/${entry}/cmdline`, 'utf8').replaceAll('\0', ' ').trim();
      const of = /^postgres: [^:]+: autovacuum worker (\S+)/.exec(title)?.[1] ?? /^postgres: [^:]+: (\S+) (\S+) \S+/.exec(title)?.[2];
      if (of === undefined || of === database) pids.push(Number(entry));
    } catch {
      // gone meanwhile
    }
  }
  return pids;
}

/** Busy and total CPU seconds of the whole machine (all cores) from /proc/stat. */
function machineCpu(): { busy: number; total: number } {
  const line = readFileSync('/proc/stat', 'utf8').split('\n')[0] ?? '';
  const v = line.trim().split(/\s+/).slice(1).map(Number);
  const total = v.reduce((a, b) => a + b, 0);
  const idle = (v[3] ?? 0) + (v[4] ?? 0);
  return { busy: (total - idle) / TICKS_PER_SECOND, total: total / TICKS_PER_SECOND };
}

/**
 * CPU seconds of each thread of a process: `main` (the event loop) or `workers` (the
 * libuv pool, where argon2 runs, and V8's GC and compiler helpers: Node 20 names them all
 * "node", so they are not told apart).
 */
function threadCpu(pid: number): Map<string, { kind: ThreadKind; seconds: number }> {
  const out = new Map<string, { kind: ThreadKind; seconds: number }>();
  let tids: string[] = [];
  try {
    tids = readdirSync(`/proc/${pid}/task`);
  } catch {
    return out;
  }
  for (const tid of tids) {
    out.set(tid, { kind: tid === String(pid) ? 'main' : 'workers', seconds: statCpuSeconds(`/proc/${pid}/task/${tid}/stat`) });
  }
  return out;
}

type ThreadKind = 'main' | 'workers';

/** Where the machine's CPU went during a scenario, as a share of all cores (0–1 each). */
export interface CpuSplit {
  /** The server under load (the service, or the baseline child). */
  service: number;
  /** The same, by thread: the event loop, and the other threads (the libuv pool, where argon2 runs, and V8's helpers). */
  service_threads: Record<ThreadKind, number>;
  postgres: number;
  loadGenerator: number;
  other: number;
  idle: number;
}

/**
 * Starts counting CPU time of the service, PostgreSQL (its processes for `database`, sampled
 * at both ends: a backend that comes and goes in between is missed, but the pools keep
 * theirs open) and this process (the load generator); `end()` gives the shares.
 */
export function cpuMeter(servicePid: number, database: string): { end(): CpuSplit } {
  const pg0 = new Map(postgresPids(database).map((p) => [p, procCpuSeconds(p)]));
  const service0 = procCpuSeconds(servicePid);
  const threads0 = threadCpu(servicePid);
  const self0 = process.cpuUsage();
  const machine0 = machineCpu();
  return {
    end() {
      const machine1 = machineCpu();
      const total = Math.max(1e-9, machine1.total - machine0.total);
      let pg = 0;
      for (const pid of postgresPids(database)) pg += procCpuSeconds(pid) - (pg0.get(pid) ?? 0);
      const self = process.cpuUsage(self0);
      const service = procCpuSeconds(servicePid) - service0;
      // When the server under measurement is this process (the in-process rebuild), it is not also a load generator.
      const load = servicePid === process.pid ? 0 : (self.user + self.system) / 1e6;
      const busy = machine1.busy - machine0.busy;
      const share = (x: number): number => Math.max(0, x / total);
      const byKind: Record<ThreadKind, number> = { main: 0, workers: 0 };
      for (const [tid, t] of threadCpu(servicePid)) byKind[t.kind] += t.seconds - (threads0.get(tid)?.seconds ?? 0);
      return {
        service: share(service),
        service_threads: { main: share(byKind.main), workers: share(byKind.workers) },
        postgres: share(pg),
        loadGenerator: share(load),
        other: share(busy - service - pg - load),
        idle: share(total - busy),
      };
    },
  };
}

/** Samples a process's VmRSS every `everyMs`: the largest value overall and since the last `mark()`. */
export function rssSampler(pid: number, everyMs = 200): { peak(): number; mark(): void; peakSinceMark(): number; stop(): void } {
  let peak = procStatusBytes(pid, 'VmRSS') ?? 0;
  let sinceMark = peak;
  const sample = (): void => {
    const rss = procStatusBytes(pid, 'VmRSS');
    if (rss === null) return;
    if (rss > peak) peak = rss;
    if (rss > sinceMark) sinceMark = rss;
  };
  const timer = setInterval(sample, everyMs);
  timer.unref();
  return {
    peak: () => peak,
    mark: () => {
      sinceMark = procStatusBytes(pid, 'VmRSS') ?? 0;
    },
    peakSinceMark: () => {
      sample();
      return sinceMark;
    },
    stop: () => clearInterval(timer),
  };
}

/**
 * Waits (up to `maxWaitMs`) for the machine to be quiet: a 2-second window with less
 * than `threshold` of all cores busy. Returns the busy share of the last window, so a run
 * on a busy machine can say so.
 */
export async function waitForQuiet(maxWaitMs: number, threshold = 0.15, onBusy?: (busy: number) => void): Promise<number> {
  const deadline = Date.now() + maxWaitMs;
  for (;;) {
    const a = machineCpu();
    await new Promise((r) => setTimeout(r, 2000));
    const b = machineCpu();
    const busy = (b.busy - a.busy) / Math.max(1e-9, b.total - a.total);
    if (busy < threshold || Date.now() >= deadline) return busy;
    onBusy?.(busy);
  }
}
