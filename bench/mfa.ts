/**
 * `npm run bench:mfa [-- --users=N]`: what a second factor adds to a sign-in. The service
 * runs on a fresh PostgreSQL database; N users sign in with a password alone, N others
 * (with a TOTP factor) with the password and then a code (POST /v1/auth/login → 403
 * mfa_required → POST /v1/auth/login/mfa). Each user signs in twice (the codes of the
 * step of now and the next: each step is accepted once), four clients at a time.
 * Prints and writes bench/results/mfa-latest.json: latencies of both, and their ratio.
 */
import { randomBytes } from 'node:crypto';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { createBenchDatabase } from './db.js';
import { fromSources, startService } from './processes.js';
import { base32Decode, totpAt } from '../src/infra/mfa/totp.js';

const root = fileURLToPath(new URL(fromSources ? '../' : '../../', import.meta.url));
const arg = (name: string, fallback: number): number => {
  const raw = process.argv.find((a) => a.startsWith(`--${name}=`))?.split('=')[1];
  return raw === undefined ? fallback : Number(raw);
};
const USERS = arg('users', 100);
const CLIENTS = 4;
const PASSWORD = 'a bench passphrase 77';

async function call(url: string, path: string, body: unknown, token?: string): Promise<{ status: number; json: Record<string, unknown> }> {
  const res = await fetch(`${url}${path}`, {
    method: 'POST', body: JSON.stringify(body),
    headers: { 'content-type': 'application/json', ...(token ? { authorization: `Bearer ${token}` } : {}) },
  });
  return { status: res.status, json: await res.json() as Record<string, unknown> };
}

const codeAt = (secret: string, stepOffset: number): string =>
  totpAt(base32Decode(secret) as Buffer, Math.floor(Date.now() / 1000) + stepOffset * 30);

/** Runs `jobs` on CLIENTS clients; the latency of each, in ms. */
async function pool(jobs: (() => Promise<void>)[]): Promise<number[]> {
  const latencies: number[] = [];
  let next = 0;
  await Promise.all(Array.from({ length: CLIENTS }, async () => {
    while (next < jobs.length) {
      const job = jobs[next++] as () => Promise<void>;
      const started = performance.now();
      await job();
      latencies.push(performance.now() - started);
    }
  }));
  return latencies;
}

const summary = (ms: number[]) => {
  const sorted = [...ms].sort((a, b) => a - b);
  const at = (q: number) => Number((sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))] ?? 0).toFixed(1));
  return { count: ms.length, mean_ms: Number((ms.reduce((a, b) => a + b, 0) / ms.length).toFixed(1)), p50_ms: at(0.5), p99_ms: at(0.99) };
};

const db = await createBenchDatabase();
const dataDir = mkdtempSync(join(tmpdir(), 'authstream-mfa-bench-'));
try {
  const svc = await startService({
    databaseUrl: db.url, masterKey: randomBytes(32).toString('base64'), dataDir,
    env: { LOGIN_RATE_PER_IP_PER_MINUTE: '1000000', REGISTER_RATE_PER_IP_PER_MINUTE: '1000000' },
  });
  try {
    const tag = randomBytes(4).toString('hex');
    const plain: string[] = [];
    const withTotp: { email: string; secret: string }[] = [];
    await pool(Array.from({ length: USERS * 2 }, (_, i) => async () => {
      const email = `u${i}.${tag}@bench.example`;
      const reg = await call(svc.url, '/v1/auth/register', { email, password: PASSWORD });
      if (reg.status !== 201) throw new Error(`register: ${reg.status} ${JSON.stringify(reg.json)}`);
      if (i % 2 === 0) return void plain.push(email);
      const token = reg.json.access_token as string;
      const started = await call(svc.url, '/v1/me/mfa/totp', { password: PASSWORD }, token);
      const secret = started.json.secret as string;
      const confirmed = await call(svc.url, `/v1/me/mfa/totp/${started.json.factor_id as string}/confirm`, { code: codeAt(secret, -1) }, token);
      if (confirmed.status !== 201) throw new Error(`confirm: ${confirmed.status} ${JSON.stringify(confirmed.json)}`);
      withTotp.push({ email, secret });
    }));
    console.log(`${plain.length} users with a password, ${withTotp.length} with a TOTP factor`);

    const passwordOnly = await pool([0, 1].flatMap(() => plain.map((email) => async () => {
      const r = await call(svc.url, '/v1/auth/login', { email, password: PASSWORD });
      if (r.status !== 200) throw new Error(`login: ${r.status}`);
    })));
    const secondCalls: number[] = [];
    // Enrolment used the step before now; sign-ins use now's, then the next (each step once).
    const stepUp = await pool([0, 1].flatMap((offset) => withTotp.map((u) => async () => {
      const first = await call(svc.url, '/v1/auth/login', { email: u.email, password: PASSWORD });
      if (first.status !== 403) throw new Error(`login: ${first.status}`);
      const started = performance.now();
      const second = await call(svc.url, '/v1/auth/login/mfa', { mfa_ticket: first.json.mfa_ticket, code: codeAt(u.secret, offset) });
      if (second.status !== 200) throw new Error(`login/mfa: ${second.status} ${JSON.stringify(second.json)}`);
      secondCalls.push(performance.now() - started);
    })));
    const result = {
      date: new Date().toISOString(), users_each: USERS, clients: CLIENTS,
      password_only: summary(passwordOnly),
      password_and_totp: summary(stepUp),
      second_call_alone: summary(secondCalls),
      ratio_mean: Number((summary(stepUp).mean_ms / summary(passwordOnly).mean_ms).toFixed(2)),
    };
    console.log(JSON.stringify(result, null, 2));
    mkdirSync(join(root, 'bench/results'), { recursive: true });
    writeFileSync(join(root, 'bench/results/mfa-latest.json'), `${JSON.stringify(result, null, 2)}\n`);
  } finally {
    await svc.stop(5000);
  }
} finally {
  rmSync(dataDir, { recursive: true, force: true });
  await db.drop();
}
