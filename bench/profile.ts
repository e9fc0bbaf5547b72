/**
 * Summary of a V8 .cpuprofile (from `node --cpu-prof`): the functions with the most self
 * time, and self time by area (a package in node_modules, a file of src/, Node's
 * internals, the garbage collector, idle).
 *
 *   node dist/bench/profile.js <file.cpuprofile> [top]
 */
import { readFileSync } from 'node:fs';
import { pathToFileURL } from 'node:url';

interface CallFrame {
  functionName: string;
  url: string;
  lineNumber: number;
}

interface ProfileNode {
  id: number;
  callFrame: CallFrame;
}

interface CpuProfile {
  nodes: ProfileNode[];
  startTime: number;
  endTime: number;
  samples: number[];
  timeDeltas: number[];
}

export interface ProfileEntry {
  name: string;
  where: string;
  self_ms: number;
  share: number;
}

export interface ProfileSummary {
  total_ms: number;
  /** Time not idle (everything but "(idle)"). */
  busy_ms: number;
  functions: ProfileEntry[];
  areas: ProfileEntry[];
  /** The samples summarised, when cut to a window. */
  window?: Window;
}

/** The area a script belongs to: a package, a src/ or bench/ file, node internals… */
export function areaOf(url: string, functionName: string): string {
  if (!url) return functionName.startsWith('(') ? functionName : '(native)';
  const pkg = /node_modules\/((?:@[^/]+\/)?[^/]+)/.exec(url);
  if (pkg?.[1]) return pkg[1];
  if (url.startsWith('node:')) return 'node internals';
  const own = /\/((?:src|bench)\/.+?)\.[jt]s$/.exec(url);
  if (own?.[1]) return own[1];
  return url;
}

/**
 * A time window in microseconds of CLOCK_MONOTONIC: V8 stamps profiles with that clock,
 * and `process.hrtime()` reads it too, system-wide, so a parent can cut a child's profile
 * to the seconds of one scenario.
 */
export interface Window {
  fromUs: number;
  toUs: number;
}

export const monotonicUs = (): number => Number(process.hrtime.bigint() / 1000n);

export function summariseProfile(profile: CpuProfile, top = 25, window?: Window): ProfileSummary {
  const byId = new Map(profile.nodes.map((n) => [n.id, n]));
  const selfUs = new Map<number, number>();
  let t = profile.startTime;
  profile.samples.forEach((id, i) => {
    const delta = profile.timeDeltas[i] ?? 0;
    t += delta;
    if (window && (t < window.fromUs || t > window.toUs)) return;
    selfUs.set(id, (selfUs.get(id) ?? 0) + delta);
  });
  const fns = new Map<string, { name: string; where: string; us: number }>();
  const areas = new Map<string, number>();
  let total = 0;
  let idle = 0;
  for (const [id, us] of selfUs) {
    const node = byId.get(id);
    if (!node) continue;
    const { functionName, url, lineNumber } = node.callFrame;
    total += us;
    if (functionName === '(idle)') idle += us;
    const name = functionName || '(anonymous)';
    const file = url.replace(/^file:\/\//, '').replace(/^.*\/node_modules\//, '').replace(/^.*\/(dist\/)?(src|bench)\//, '$2/');
    const where = url ? `${file}:${lineNumber + 1}` : '';
    const key = `${name}@${where}`;
    const entry = fns.get(key) ?? { name, where, us: 0 };
    entry.us += us;
    fns.set(key, entry);
    const area = areaOf(url, functionName);
    areas.set(area, (areas.get(area) ?? 0) + us);
  }
  const toEntry = (name: string, where: string, us: number): ProfileEntry => ({
    name, where, self_ms: us / 1000, share: total > 0 ? us / total : 0,
  });
  return {
    total_ms: total / 1000,
    busy_ms: (total - idle) / 1000,
    functions: [...fns.values()].sort((a, b) => b.us - a.us).slice(0, top).map((f) => toEntry(f.name, f.where, f.us)),
    areas: [...areas].sort((a, b) => b[1] - a[1]).slice(0, top).map(([name, us]) => toEntry(name, '', us)),
    ...(window ? { window } : {}),
  };
}

export function loadProfile(path: string): CpuProfile {
  return JSON.parse(readFileSync(path, 'utf8')) as CpuProfile;
}

/** Text for a terminal; shares are of busy (non-idle) time. */
export function formatSummary(s: ProfileSummary, title: string): string {
  const busy = s.busy_ms > 0 ? s.busy_ms : 1;
  const line = (e: ProfileEntry): string =>
    `${e.self_ms.toFixed(0).padStart(8)} ms ${((e.self_ms / busy) * 100).toFixed(1).padStart(5)} %  ${e.name}${e.where ? `  ${e.where}` : ''}`;
  return [
    `${title}: ${s.busy_ms.toFixed(0)} ms busy of ${s.total_ms.toFixed(0)} ms sampled (shares of busy time)`,
    'self time by area:',
    ...s.areas.filter((a) => a.name !== '(idle)').slice(0, 15).map(line),
    'top functions by self time:',
    ...s.functions.filter((f) => f.name !== '(idle)').map(line),
  ].join('\n');
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  const file = process.argv[2];
  if (!file) {
    process.stderr.write('usage: node dist/bench/profile.js <file.cpuprofile> [top]\n');
    process.exit(2);
  }
  process.stdout.write(`${formatSummary(summariseProfile(loadProfile(file), Number(process.argv[3] ?? 25)), file)}\n`);
}
