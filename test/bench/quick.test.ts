/**
 * Keeps the benchmark harness working: runs the whole suite once in its smallest shape
 * (about a second per scenario, a 2,000-event store) straight from bench/*.ts, with the
 * service child running src/main.ts under the same loader, and checks the result, the
 * JSON written from it, the chart and the generated docs section. Timing numbers are not
 * judged here (a loaded CI machine says nothing); only that each was measured.
 */
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t from 'tap';
import type { Test } from 'tap';
import { serverAnswers } from '../../bench/db.js';
import { BEGIN, END, updateDocs } from '../../bench/docs.js';
import { writeResults } from '../../bench/output.js';
import { LOGIN_RATIO_TARGET, markdownTable, ME_RATIO_TARGET, PEER_RATIO_TARGET, textTable, type SuiteResult } from '../../bench/report.js';
import { MODES, runSuite } from '../../bench/suite.js';
import { allProjections } from '../../src/projections/index.js';

const positive = (t: Test, value: unknown, what: string): void => {
  t.ok(typeof value === 'number' && Number.isFinite(value) && value > 0, `${what} is a positive number (${String(value)})`);
};

if (!(await serverAnswers())) {
  if (process.env.REQUIRE_PG_SERVER === '1') t.fail('REQUIRE_PG_SERVER=1 but no PostgreSQL server answers');
  else t.plan(0, 'the benchmark suite needs a PostgreSQL server');
} else {
  t.test('the quick suite measures every scenario', async (t) => {
    const t0 = Date.now();
    const result = await runSuite({ ...MODES.test, mode: 'test', log: (line) => t.comment(`${((Date.now() - t0) / 1000).toFixed(1)} s: ${line}`) });
    const dir = mkdtempSync(join(tmpdir(), 'authstream-bench-test-'));
    t.teardown(() => rmSync(dir, { recursive: true, force: true }));

    const { json, svg } = writeResults(result, dir);
    const written = JSON.parse(readFileSync(json, 'utf8')) as SuiteResult;
    const s = written.scenarios;

    for (const name of ['baseline', 'me', 'register', 'login', 'refresh', 'peer'] as const) {
      const r = s[name];
      t.ok(r, `${name} ran`);
      if (!r) continue;
      positive(t, r.ok, `${name}: 2xx answers`);
      positive(t, r.rps, `${name}: requests/s`);
      // autocannon reports whole milliseconds: a fast route's p99 can be 0.
      t.ok(Number.isFinite(r.latency_ms_p99) && r.latency_ms_p99 >= 0, `${name}: p99 latency is a number of milliseconds (${r.latency_ms_p99})`);
      t.ok(r.latency_ms_p50 >= 0 && r.latency_ms_p50 <= r.latency_ms_p99, `${name}: p50 within [0, p99]`);
      t.equal(r.failed, 0, `${name}: no failed requests (${JSON.stringify(r.status)})`);
      positive(t, r.cpu.service, `${name}: CPU share of the server under load`);
    }
    positive(t, s.argon2?.hash_ms_mean, 'argon2: hash time');
    positive(t, s.argon2?.login_ceiling_per_s, 'argon2: login ceiling');
    positive(t, s.argon2?.all_cores_hashes_per_s, 'argon2: every core hashing at once');
    t.same(s.argon2?.params, { memoryCost: 19_456, timeCost: 2, parallelism: 1 }, 'argon2 at the OWASP parameters');
    t.ok((s.rebuild?.store_events ?? 0) >= MODES.test.rebuildEvents, 'the rebuild store holds at least the asked events');
    t.equal(s.rebuild?.projections.length, allProjections().length, 'every projection rebuilt');
    for (const p of s.rebuild?.projections ?? []) positive(t, p.events_per_s, `rebuild ${p.name}: events/s`);
    positive(t, s.rebuild?.all.events_per_s, 'rebuild of every read model: events/s');
    positive(t, s.refresh?.session_stream_events.mean, 'refresh: session stream length');
    positive(t, s.lag?.samples, 'lag: samples');
    positive(t, s.lag?.p50_ms, 'lag: p50');
    positive(t, s.lag?.p99_ms, 'lag: p99');
    positive(t, s.rss?.peak_under_load_mib, 'RSS: peak under load');
    positive(t, s.rss?.end_mib, 'RSS at the end');
    t.same(written.targets.map((x) => x.id).sort(), ['lag', 'login', 'me', 'rebuild', 'refresh', 'rss'], 'every target checked');
    // The ratio targets are held to references measured in the same run.
    const target = (id: string): SuiteResult['targets'][number] | undefined => written.targets.find((x) => x.id === id);
    const ratio = (what: string, id: string, measured: number | undefined, bound: number): void => {
      const x = target(id);
      t.ok(x && measured !== undefined && Math.abs(x.measured - measured) < 1e-9 && x.bound === bound && x.unit === '×',
        `${what} (${x?.measured} against ${x?.bound})`);
    };
    const over = (a: number | undefined, b: number | undefined): number | undefined => (a !== undefined && b ? a / b : undefined);
    ratio('refresh: authstream ÷ the peer', 'refresh', over(s.refresh?.rps, s.peer?.rps), PEER_RATIO_TARGET);
    ratio('me: GET /v1/me ÷ bare Fastify', 'me', over(s.me?.rps, s.baseline?.rps), ME_RATIO_TARGET);
    ratio('login: logins ÷ every-core hashing', 'login', over(s.login?.rps, s.argon2?.all_cores_hashes_per_s), LOGIN_RATIO_TARGET);
    t.equal(PEER_RATIO_TARGET, 1, 'the refresh target is 1.0 × the peer');
    t.equal(ME_RATIO_TARGET, 0.5, 'the /v1/me target is 0.50 × bare Fastify');

    t.match(readFileSync(svg, 'utf8'), /^<svg [^>]*xmlns="http:\/\/www.w3.org\/2000\/svg"[\s\S]*<\/svg>\s*$/, 'the chart is an SVG document');
    const table = textTable(written);
    for (const label of ['GET /v1/me', 'POST /v1/auth/login', 'POST /v1/auth/refresh', 'oidc-provider', 'projection rebuild', 'projection lag', 'RSS']) {
      t.ok(table.includes(label), `the table has ${label}`);
    }
    t.ok(markdownTable(written).split('\n').length >= 12, 'the markdown table has a row per scenario');

    // The docs update replaces only the generated section.
    const doc = join(dir, 'benchmarks.md');
    writeFileSync(doc, `# Benchmarks\n\nhand-written before\n\n${BEGIN}\nold numbers\n${END}\n\nhand-written after\n`);
    updateDocs(doc, written);
    const text = readFileSync(doc, 'utf8');
    t.ok(text.includes('hand-written before') && text.includes('hand-written after'), 'hand-written parts kept');
    t.notOk(text.includes('old numbers'), 'old numbers replaced');
    t.ok(text.includes('<svg') && text.includes('| GET /v1/me |'), 'chart and table in the docs');
  });
}
