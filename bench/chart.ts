/**
 * The chart of a run, as a self-contained SVG (no chart library): HTTP throughput per
 * scenario on a log scale, with each scenario's target marked, then every target as
 * measured ÷ target (right of the 1× line = met).
 */
import { fmt, LOGIN_RATIO_TARGET, ME_RATIO_TARGET, PEER_RATIO_TARGET, type SuiteResult, type Target } from './report.js';

interface Bar {
  label: string;
  value: number;
  text: string;
  /** Where the target sits on the same axis (a tick across the bar). */
  tick?: number;
  color: string;
}

const WIDTH = 780;
const LABEL_W = 210;
const VALUE_W = 150;
const ROW_H = 26;
const BAR_H = 16;
const PLOT_W = WIDTH - LABEL_W - VALUE_W - 20;

const GOOD = '#2e7d32';
const BAD = '#c62828';
const NEUTRAL = '#546e7a';
const BASE = '#90a4ae';

const esc = (s: string): string => s.replace(/[<>&"]/g, (c) => ({ '<': '&lt;', '>': '&gt;', '&': '&amp;', '"': '&quot;' })[c] ?? c);

function panel(y0: number, title: string, bars: Bar[], x: (v: number) => number, gridValues: number[], gridLabel: (v: number) => string): { svg: string; height: number } {
  const parts: string[] = [];
  parts.push(`<text x="10" y="${y0 + 16}" font-size="14" font-weight="bold">${esc(title)}</text>`);
  const top = y0 + 28;
  const plotH = bars.length * ROW_H;
  for (const g of gridValues) {
    const gx = LABEL_W + x(g);
    parts.push(`<line x1="${gx.toFixed(1)}" y1="${top}" x2="${gx.toFixed(1)}" y2="${top + plotH}" stroke="#cfd8dc" stroke-width="1"/>`);
    parts.push(`<text x="${gx.toFixed(1)}" y="${top + plotH + 13}" font-size="10" text-anchor="middle" fill="#607d8b">${esc(gridLabel(g))}</text>`);
  }
  bars.forEach((b, i) => {
    const y = top + i * ROW_H + (ROW_H - BAR_H) / 2;
    const w = Math.max(1, x(b.value));
    parts.push(`<text x="${LABEL_W - 8}" y="${y + BAR_H - 4}" font-size="12" text-anchor="end">${esc(b.label)}</text>`);
    parts.push(`<rect x="${LABEL_W}" y="${y}" width="${w.toFixed(1)}" height="${BAR_H}" fill="${b.color}" rx="2"/>`);
    if (b.tick !== undefined) {
      const tx = LABEL_W + x(b.tick);
      parts.push(`<line x1="${tx.toFixed(1)}" y1="${y - 3}" x2="${tx.toFixed(1)}" y2="${y + BAR_H + 3}" stroke="#212121" stroke-width="2"/>`);
    }
    parts.push(`<text x="${LABEL_W + PLOT_W + 8}" y="${y + BAR_H - 4}" font-size="12">${esc(b.text)}</text>`);
  });
  return { svg: parts.join('\n'), height: 28 + plotH + 22 };
}

/** log10 axis from `min` to `max` over the plot width. */
function logAxis(min: number, max: number): (v: number) => number {
  const lo = Math.log10(min);
  const hi = Math.log10(max);
  return (v) => (Math.max(0, Math.log10(Math.max(v, min)) - lo) / (hi - lo)) * PLOT_W;
}

const score = (t: Target): number => (t.direction === 'at_least' ? t.measured / t.bound : t.bound / Math.max(t.measured, 1e-9));

export function renderChart(result: SuiteResult): string {
  const s = result.scenarios;
  const targets = result.targets;
  const target = (id: Target['id']): Target | undefined => targets.find((t) => t.id === id);
  const color = (id: Target['id']): string => {
    const t = target(id);
    return t ? (t.met ? GOOD : BAD) : NEUTRAL;
  };

  const http: Bar[] = [];
  const add = (label: string, rps: number | undefined, c: string, tick?: number): void => {
    if (rps !== undefined) http.push({ label, value: rps, text: `${fmt(rps)} req/s`, tick, color: c });
  };
  // Targets are ratios to a reference measured in the same run: the tick is that reference × the ratio.
  add('bare Fastify (baseline)', s.baseline?.rps, BASE);
  add('GET /v1/me', s.me?.rps, color('me'), s.baseline ? s.baseline.rps * ME_RATIO_TARGET : undefined);
  add('oidc-provider refresh (peer)', s.peer?.rps, BASE);
  add('POST /v1/auth/refresh', s.refresh?.rps, color('refresh'), s.peer ? s.peer.rps * PEER_RATIO_TARGET : undefined);
  add('POST /v1/auth/login', s.login?.rps, color('login'),
    s.argon2 ? s.argon2.all_cores_hashes_per_s * LOGIN_RATIO_TARGET : undefined);
  add('POST /v1/auth/register', s.register?.rps, NEUTRAL);

  const parts: string[] = [];
  let y = 8;
  if (http.length > 0) {
    const max = Math.max(...http.map((b) => Math.max(b.value, b.tick ?? 0)));
    const min = Math.min(...http.map((b) => Math.min(b.value, b.tick ?? Infinity)));
    const top = 10 ** Math.ceil(Math.log10(max * 1.05));
    const bottom = Math.min(10, 10 ** Math.floor(Math.log10(Math.max(1, min / 2))));
    const grid = [1, 10, 100, 1000, 10_000, 100_000, 1_000_000].filter((g) => g >= bottom && g <= top);
    const p = panel(y, 'HTTP throughput, 2xx answers/s (log scale; black tick = target)', http, logAxis(bottom, top), grid, (g) => fmt(g));
    parts.push(p.svg);
    y += p.height + 10;
  }
  if (targets.length > 0) {
    const bars: Bar[] = targets.map((t) => ({
      label: t.label,
      value: Math.min(score(t), 3),
      text: `${fmt(t.measured, t.measured < 10 ? 2 : 0)} ${t.unit} (${t.met ? 'met' : 'missed'})`,
      tick: 1,
      color: t.met ? GOOD : BAD,
    }));
    const x = (v: number): number => (Math.min(v, 3) / 3) * PLOT_W;
    const p = panel(y, 'Targets: measured ÷ target, inverted for upper limits (≥ 1× = met; cut at 3×)', bars, x, [0, 1, 2, 3], (g) => `${g}×`);
    parts.push(p.svg);
    y += p.height;
  }
  const footer = `${result.mode} run, ${result.date.slice(0, 10)}; ${result.machine.cores} × ${result.machine.cpu_model}, Node ${result.machine.node}, PostgreSQL ${result.machine.postgres}`;
  parts.push(`<text x="10" y="${y + 14}" font-size="10" fill="#607d8b">${esc(footer)}</text>`);
  const height = y + 24;
  return [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${WIDTH}" height="${height}" viewBox="0 0 ${WIDTH} ${height}" font-family="Helvetica, Arial, sans-serif">`,
    `<rect width="${WIDTH}" height="${height}" fill="#ffffff"/>`,
    ...parts,
    '</svg>',
  ].join('\n');
}
