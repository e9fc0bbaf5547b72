/**
 * examples/audit-consumer.ts against a listening service: it replays every event, follows
 * the live tail, and after a restart resumes from its saved position — every event in the
 * audit log exactly once, in order.
 */
import t from 'tap';
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { EventView } from '../../../../src/infra/redact.js';
import { json } from '../../../helpers/app.js';
import { buildAdminApp, PASSWORD, register } from '../../../helpers/admin.js';

/** Runs the example with the same TypeScript loader as this test. */
function startConsumer(env: NodeJS.ProcessEnv): { child: ChildProcess; stderr: string[] } {
  const loader = process.execArgv.filter((a) => a.includes('@tapjs/typescript'));
  const child = spawn(process.execPath, [...loader, 'examples/audit-consumer.ts'], { env: { ...process.env, ...env }, stdio: ['ignore', 'ignore', 'pipe'] });
  const stderr: string[] = [];
  child.stderr?.on('data', (chunk) => stderr.push(String(chunk)));
  return { child, stderr };
}

async function stop(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null) return;
  const exited = new Promise((resolve) => child.once('exit', resolve));
  child.kill('SIGTERM');
  await exited;
}

const readLog = (file: string): EventView[] => existsSync(file)
  ? readFileSync(file, 'utf8').trim().split('\n').filter(Boolean).map((l) => JSON.parse(l) as EventView)
  : [];

async function until(check: () => boolean, what: string, timeoutMs = 20_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

t.test('the audit consumer replays, follows, and resumes after a restart', async (t) => {
  const ctx = await buildAdminApp(t, { SSE_HEARTBEAT_MS: '500' });
  const { app, auth } = ctx;
  for (let i = 0; i < 3; i++) await register(app, { email: `audited${i}@example.com` });
  const address = await app.listen({ port: 0, host: '127.0.0.1' });
  const dir = mkdtempSync(join(tmpdir(), 'authstream-audit-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const auditLog = join(dir, 'audit.ndjson');
  const stateFile = join(dir, 'audit.position');
  const env = {
    AUTHSTREAM_URL: address, ADMIN_EMAIL: ctx.admin.user.email ?? '', ADMIN_PASSWORD: PASSWORD,
    AUDIT_LOG: auditLog, STATE_FILE: stateFile,
  };
  const all = async (): Promise<EventView[]> =>
    json<{ events: EventView[] }>(await app.inject({ method: 'GET', url: '/v1/admin/events?limit=1000', headers: auth })).events;

  const first = startConsumer(env);
  t.teardown(() => stop(first.child));
  let expected = await all();
  await until(() => readLog(auditLog).length >= expected.length, 'the replay');
  const live = await register(app, { email: 'live-audit@example.com' });
  await until(() => readLog(auditLog).some((e) => e.data.user_id === live.user.id), 'a live event');
  await stop(first.child);
  t.match(first.stderr.join(''), /replayed \d+ events/);
  t.match(first.stderr.join(''), /following live events/);

  const away = await register(app, { email: 'while-stopped@example.com' });
  expected = await all();
  const saved = readFileSync(stateFile, 'utf8').trim();
  t.ok(BigInt(saved) < BigInt(expected.at(-1)?.position ?? '0'), 'events were appended after the saved position');

  const second = startConsumer(env);
  t.teardown(() => stop(second.child));
  await until(() => readLog(auditLog).some((e) => e.data.user_id === away.user.id), 'the resume');
  expected = await all();
  await until(() => readLog(auditLog).length >= expected.length, 'every event');
  await stop(second.child);
  t.match(second.stderr.join(''), `resuming after position ${saved}`);

  const logged = readLog(auditLog);
  t.same(logged.map((e) => e.id), expected.map((e) => e.id), 'every event exactly once, in global order');
  t.equal(readFileSync(stateFile, 'utf8').trim(), expected.at(-1)?.position, 'the saved position is the last event');
});
