/**
 * `npm run bench:import [-- --users=N]`: the Django import at scale, and what it costs live
 * traffic. A PostgreSQL database shaped like a Django project's gets N users (default
 * 100,000) with a Django PBKDF2 hash each; the service runs on its own fresh database; GET
 * /v1/me, paced at --live-rps (default 200/s), is measured for a few seconds before the
 * import (idle) and for as long as `authstream import django` runs in its own process;
 * then the read models' catch-up.
 * Writes bench/results/import-latest.json and prints it.
 */
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { createBenchDatabase } from './db.js';
import { fileURLToPath } from 'node:url';
import { fromSources, startService } from './processes.js';

/** The repository (this file runs from bench/ or dist/bench/). */
const root = fileURLToPath(new URL(fromSources ? '../' : '../../', import.meta.url));

const arg = (name: string, fallback: number): number => {
  const raw = process.argv.find((a) => a.startsWith(`--${name}=`))?.split('=')[1];
  return raw === undefined ? fallback : Number(raw);
};
const USERS = arg('users', 100_000);
const IDLE_SECONDS = arg('idle-seconds', 5);
/** The live traffic's pace: GET /v1/me requests per second, spread over 4 clients. */
const LIVE_RPS = arg('live-rps', 200);

const hashes = JSON.parse(readFileSync(join(root, 'test/fixtures/django-hashes.json'), 'utf8')) as
  { vectors: Array<{ algorithm: string; encoded: string; password: string }> };
const vector = hashes.vectors.find((v) => v.algorithm === 'pbkdf2_sha256' && v.password === 'django-default');
if (!vector) throw new Error('no Django-default PBKDF2 vector');

/** GET /v1/me from 4 clients at LIVE_RPS in all until `stop`; latencies in ms (failures as Infinity). */
async function meLoop(url: string, token: string, stop: () => boolean): Promise<number[]> {
  const latencies: number[] = [];
  const every = 4000 / LIVE_RPS;
  await Promise.all(Array.from({ length: 4 }, async () => {
    let next = performance.now();
    while (!stop()) {
      const started = performance.now();
      const res = await fetch(`${url}/v1/me`, { headers: { authorization: `Bearer ${token}` } });
      await res.arrayBuffer();
      latencies.push(res.ok ? performance.now() - started : Infinity);
      next += every;
      const wait = next - performance.now();
      if (wait > 0) await new Promise((r) => setTimeout(r, wait));
    }
  }));
  return latencies;
}

const summary = (ms: number[], seconds: number) => {
  const sorted = [...ms].sort((a, b) => a - b);
  const at = (q: number) => Number((sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))] ?? 0).toFixed(1));
  return {
    requests_per_second: Math.round(ms.length / seconds), failed: ms.filter((x) => x === Infinity).length,
    p50_ms: at(0.5), p99_ms: at(0.99), max_ms: at(1),
  };
};

const service = await createBenchDatabase();
const django = await createBenchDatabase();
const dataDir = mkdtempSync(join(tmpdir(), 'authstream-import-bench-'));
const masterKey = randomBytes(32).toString('base64');
try {
  const client = new pg.Client({ connectionString: django.url });
  await client.connect();
  await client.query(readFileSync(join(root, 'test/helpers/django.ts'), 'utf8')
    .match(/AUTH_USER_DDL = `([^`]*)`/)?.[1] ?? '');
  await client.query(
    `insert into auth_user (password, is_superuser, username, first_name, last_name, email, is_staff, is_active, date_joined)
     select $1, false, 'user' || g, 'First', 'Last ' || g, 'user' || g || '@bench.example', g % 100 = 0, g % 50 <> 0, now() - g * interval '1 minute'
     from generate_series(1, $2::int) g`, [vector.encoded, USERS]);
  await client.end();

  const svc = await startService({
    databaseUrl: service.url, masterKey, dataDir, env: { LOGIN_RATE_PER_IP_PER_MINUTE: '1000000', REGISTER_RATE_PER_IP_PER_MINUTE: '1000000' },
  });
  try {
    const reg = await fetch(`${svc.url}/v1/auth/register`, {
      method: 'POST', headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ email: 'live@bench.example', password: 'a-live-Traffic-77' }),
    });
    const { access_token: token } = await reg.json() as { access_token: string };
    const idleEnd = Date.now() + IDLE_SECONDS * 1000;
    const idle = await meLoop(svc.url, token, () => Date.now() > idleEnd);

    let importing = true;
    const started = performance.now();
    const during = meLoop(svc.url, token, () => !importing);
    const out = await new Promise<string>((resolve, reject) => {
      const child = spawn(process.execPath, [join(root, 'bin/authstream.js'),
        'import', 'django', '--from', django.url, '--json'], {
        env: { ...process.env, DATABASE_URL: service.url, MASTER_KEY: masterKey, DATA_DIR: dataDir, LOG_LEVEL: 'warn' },
        stdio: ['ignore', 'pipe', 'inherit'],
      });
      let text = '';
      child.stdout.on('data', (c: Buffer) => { text += c.toString('utf8'); });
      child.once('exit', (code) => (code === 0 ? resolve(text) : reject(new Error(`import exited with ${code}`))));
    });
    const seconds = (performance.now() - started) / 1000;
    importing = false;
    const live = await during;
    const result = JSON.parse(out) as { imported: number; refused: number };

    const caughtUpStarted = performance.now();
    const admin = new pg.Client({ connectionString: service.url });
    await admin.connect();
    for (;;) {
      const { rows } = await admin.query<{ n: string }>(`select count(*)::text as n from authstream.users`).catch(() => ({ rows: [{ n: '0' }] }));
      if (Number(rows[0]?.n ?? 0) >= result.imported) break;
      await new Promise((r) => setTimeout(r, 250));
    }
    await admin.end();
    const report = {
      date: new Date().toISOString(), users: USERS, live_rps: LIVE_RPS, imported: result.imported, refused: result.refused,
      import_seconds: Number(seconds.toFixed(1)), users_per_second: Math.round(result.imported / seconds),
      read_models_caught_up_seconds_after: Number(((performance.now() - caughtUpStarted) / 1000).toFixed(1)),
      me_idle: summary(idle, IDLE_SECONDS), me_during_import: summary(live, seconds),
    };
    mkdirSync(join(root, 'bench/results'), { recursive: true });
    writeFileSync(join(root, 'bench/results/import-latest.json'), `${JSON.stringify(report, null, 2)}\n`);
    console.log(JSON.stringify(report, null, 2));
  } finally {
    await svc.stop(5000);
  }
} finally {
  await service.drop();
  await django.drop();
  rmSync(dataDir, { recursive: true, force: true });
}
