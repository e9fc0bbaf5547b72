/**
 * The operator CLI, run in-process through runCli with captured output and an environment
 * pointing at the test database: every command, its --help, its errors, --json, colours,
 * and the same redaction as the admin API.
 */
import t from 'tap';
import { ensureReactor } from '../../src/reactors/engine/reactorCheckpoints.js';
import { randomBytes, randomUUID } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import type { CliIo } from '../../src/cli/command.js';
import { commands } from '../../src/cli/commands.js';
import { runCli } from '../../src/cli/main.js';
import { PostgresEventStore } from '../../src/eventstore/postgres/store.js';
import type { EventView } from '../../src/infra/redact.js';
import { PgSql } from '../../src/infra/sql/pg.js';
import { PgliteSql } from '../../src/infra/sql/pglite.js';
import { json } from '../helpers/app.js';
import { createTestDatabaseUrl, usingServer } from '../helpers/db.js';
import { bearer, buildAdminApp, login, register, type AdminApp } from '../helpers/admin.js';

interface Run {
  code: number;
  out: string;
  err: string;
}

interface Captured {
  io: CliIo;
  out(): string;
  err(): string;
}

function capture(env: NodeJS.ProcessEnv, options: { tty?: boolean; signal?: AbortSignal } = {}): Captured {
  const out: string[] = [];
  const err: string[] = [];
  const sink = (into: string[]) => new Writable({
    write(chunk, _enc, cb) {
      into.push(String(chunk));
      cb();
    },
  });
  const stdout = Object.assign(sink(out), { isTTY: options.tty ?? false });
  return {
    io: { out: stdout, err: sink(err), env, ...(options.signal ? { signal: options.signal } : {}) },
    out: () => out.join(''),
    err: () => err.join(''),
  };
}

async function cli(env: NodeJS.ProcessEnv, argv: string[], options: { tty?: boolean } = {}): Promise<Run> {
  const c = capture(env, options);
  const code = await runCli(argv, c.io);
  return { code, out: c.out(), err: c.err() };
}

const ndjsonEvents = (text: string): EventView[] => text.trim().split('\n').filter(Boolean).map((l) => JSON.parse(l) as EventView);

async function until(check: () => boolean, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > deadline) throw new Error('timed out');
    await new Promise((r) => setTimeout(r, 25));
  }
}

const serverUp = await usingServer();

t.test('the CLI', serverUp ? {} : { skip: 'no PostgreSQL server: the CLI opens its own connection to the database' }, async (t) => {
  const ctx: AdminApp = await buildAdminApp(t);
  if (!ctx.db.url) throw new Error('no database URL');
  const { app, auth } = ctx;
  const env: NodeJS.ProcessEnv = {
    DATABASE_URL: ctx.db.url, MASTER_KEY: ctx.config.masterKey, DATA_DIR: ctx.config.dataDir, LOG_LEVEL: 'silent',
  };
  const alice = await register(app, { email: 'alice.cli@example.com', first_name: 'Alice' }, { 'user-agent': 'AliceCli/1' });
  const bob = await register(app, { email: 'bob.cli@example.com' });
  const refreshed = await app.inject({ method: 'POST', url: '/v1/auth/refresh', payload: { refresh_token: bob.refresh_token } });
  t.equal(refreshed.statusCode, 200);
  const outputs: string[] = [];
  const keep = (run: Run): Run => {
    outputs.push(run.out, run.err);
    return run;
  };

  await t.test('webhooks: create (secret shown once), list, disable, delete', async (t) => {
    const refused = await cli(env, ['webhooks', 'create', '--url', 'http://hooks.example.com/x']);
    t.equal(refused.code, 2, 'http is refused');
    t.match(refused.err, /https/);
    const created = await cli(env, ['webhooks', 'create', '--url', 'https://hooks.example.com/x', '--types', 'UserRegistered,UserErased', '--json']);
    t.equal(created.code, 0, created.err);
    const hook = JSON.parse(created.out) as { id: string; secret: string; event_types: string[] };
    t.match(hook, { secret: /^whsec_/, event_types: ['UserRegistered', 'UserErased'] });
    const listed = await cli(env, ['webhooks', 'list', '--json']);
    t.notOk(listed.out.includes(hook.secret), 'the list never shows the secret');
    t.match(JSON.parse(listed.out), { webhooks: [{ id: hook.id, status: 'enabled', url: 'https://hooks.example.com/x' }] });
    t.equal((await cli(env, ['webhooks', 'disable', hook.id])).code, 0);
    t.match((await cli(env, ['webhooks', 'list'])).out, new RegExp(`${hook.id}\\s+disabled \\(admin\\)`));
    t.equal((await cli(env, ['webhooks', 'delete', hook.id])).code, 0);
    t.strictSame(JSON.parse((await cli(env, ['webhooks', 'list', '--json'])).out), { webhooks: [] });
    t.not((await cli(env, ['webhooks', 'delete', randomUUID()])).code, 0, 'an unknown id fails');
  });

  await t.test('--help on every command, and the command list', async (t) => {
    const top = await cli(env, ['--help']);
    t.equal(top.code, 0);
    for (const command of commands()) {
      t.match(top.out, command.name, `listed: ${command.name}`);
      const help = await cli(env, [...command.name.split(' '), '--help']);
      t.equal(help.code, 0, command.name);
      t.match(help.out, new RegExp(`^Usage: authstream ${command.name}`), `usage of ${command.name}`);
    }
    const unknown = await cli(env, ['events', 'nope']);
    t.equal(unknown.code, 2);
    const badOption = await cli(env, ['events', 'tail', '--nope']);
    t.equal(badOption.code, 2);
    t.match(badOption.err, /Usage: authstream events tail/);
  });

  await t.test('admin create: creates, grants to an existing user, is idempotent', async (t) => {
    const created = keep(await cli({ ...env, AUTHSTREAM_ADMIN_PASSWORD: 'a brand new admin password' }, ['admin', 'create', '--email', ' Root@Example.com ', '--json']));
    t.equal(created.code, 0, created.err);
    const body = JSON.parse(created.out) as { outcome: string; user_id: string; email: string };
    t.match(body, { outcome: 'created', email: 'root@example.com' });
    const root = await login(app, 'root@example.com', 'a brand new admin password');
    t.same(root.user.roles.sort(), ['admin', 'user']);
    const asRoot = await app.inject({ method: 'GET', url: '/v1/admin/users', headers: bearer(root) });
    t.equal(asRoot.statusCode, 200, 'the new admin can use the admin API');

    const granted = keep(await cli(env, ['admin', 'create', '--email', 'alice.cli@example.com']));
    t.equal(granted.code, 0, granted.err);
    t.match(granted.out, `granted the admin role to alice.cli@example.com (${alice.user.id}); the password is unchanged`);
    const user = json<{ roles: string[] }>(await app.inject({ method: 'GET', url: `/v1/admin/users/${alice.user.id}`, headers: auth }));
    t.ok(user.roles.includes('admin'));
    const stream = json<{ events: EventView[] }>(await app.inject({ method: 'GET', url: `/v1/admin/streams/user-${alice.user.id}`, headers: auth }));
    t.match(stream.events.at(-1), { type: 'RoleGranted', data: { role: 'admin' }, metadata: { actor_id: null, user_agent: 'authstream cli (admin create)' } });

    const again = await cli(env, ['admin', 'create', '--email', 'alice.cli@example.com', '--json']);
    t.match(JSON.parse(again.out), { outcome: 'already_admin', user_id: alice.user.id });

    const cases: [string[], number, RegExp][] = [
      [['admin', 'create'], 2, /--email is required/],
      [['admin', 'create', '--email', 'not an email', '--password', 'long enough password'], 1, /email must be an email address/],
      [['admin', 'create', '--email', 'weak@example.com', '--password', 'short'], 1, /password/i],
      [['admin', 'create', '--email', 'nopass@example.com'], 2, /--password/],
    ];
    for (const [argv, code, message] of cases) {
      const run = await cli(env, argv);
      t.equal(run.code, code, argv.join(' '));
      t.match(run.err, message);
      t.notMatch(run.err, /\n\s+at /, 'no stack trace');
    }
    const badConfig = await cli({ ...env, DATABASE_URL: 'mysql://nope' }, ['admin', 'create', '--email', 'x@example.com', '--password', 'long enough password']);
    t.equal(badConfig.code, 1);
    t.match(badConfig.err, /^authstream admin create: configuration error: DATABASE_URL/);
  });

  await t.test('events tail: a table, --json like the admin API, --limit, --from, --types', async (t) => {
    const table = keep(await cli(env, ['events', 'tail']));
    t.equal(table.code, 0, table.err);
    t.match(table.out, /^POSITION\s+OCCURRED_AT\s+TYPE\s+STREAM\s+ACTOR\s+DATA\n-+/);
    t.match(table.out, /UserRegistered/);
    t.notMatch(table.out, /\u001b\[/, 'no colours when not on a terminal');

    const asJson = keep(await cli(env, ['events', 'tail', '--json']));
    const api = json<{ events: EventView[] }>(await app.inject({ method: 'GET', url: '/v1/admin/events', headers: auth }));
    t.same(ndjsonEvents(asJson.out), api.events, 'the same events, redacted the same way, as GET /v1/admin/events');

    const two = await cli(env, ['events', 'tail', '--limit', '2', '--json']);
    const firstTwo = ndjsonEvents(two.out);
    t.equal(firstTwo.length, 2);
    t.match(two.err, `more events follow: authstream events tail --from ${firstTwo[1]?.position}`);
    const next = ndjsonEvents((await cli(env, ['events', 'tail', '--from', firstTwo[1]?.position ?? '', '--limit', '1', '--json'])).out);
    t.same(next.map((e) => e.id), [api.events[2]?.id], '--from is exclusive');

    const typed = ndjsonEvents((await cli(env, ['events', 'tail', '--types', 'SessionStarted,RefreshTokenRotated', '--json', '--limit', '1000'])).out);
    t.ok(typed.length >= 3);
    t.ok(typed.every((e) => e.type === 'SessionStarted' || e.type === 'RefreshTokenRotated'));
    t.notOk(typed.some((e) => 'refresh_token_hash' in e.data));

    const empty = await cli(env, ['events', 'tail', '--from', 'head']);
    t.equal(empty.code, 0);
    t.equal(empty.out, '');
    t.match(empty.err, 'no events');
    for (const argv of [['--limit', '0'], ['--limit', 'x'], ['--from', '-3']]) {
      const bad = await cli(env, ['events', 'tail', ...argv]);
      t.equal(bad.code, 2, argv.join(' '));
    }
  });

  await t.test('events tail --follow prints new events until stopped', async (t) => {
    const controller = new AbortController();
    const c = capture(env, { signal: controller.signal });
    const running = runCli(['events', 'tail', '--from', 'head', '--follow', '--json', '--types', 'UserRegistered'], c.io);
    await new Promise((r) => setTimeout(r, 300));
    const carol = await register(app, { email: 'carol.cli@example.com' });
    await until(() => c.out().includes(carol.user.id));
    const dave = await register(app, { email: 'dave.cli@example.com' });
    await until(() => c.out().includes(dave.user.id));
    controller.abort();
    t.equal(await running, 0);
    const events = ndjsonEvents(c.out());
    t.same(events.map((e) => e.data.user_id), [carol.user.id, dave.user.id], 'only the new ones, in order');
    outputs.push(c.out());

    const lines = capture(env);
    const limited = await runCli(['events', 'tail', '--follow', '--limit', '3'], lines.io);
    t.equal(limited, 0, 'stops by itself at --limit');
    const rows = lines.out().trim().split('\n');
    t.equal(rows.length, 2 + 3, 'a header and three rows');
    t.match(rows[0], /^POSITION/);
  });

  await t.test('events read: one stream, --json like the admin API; errors', async (t) => {
    const read = keep(await cli(env, ['events', 'read', `user-${alice.user.id}`]));
    t.equal(read.code, 0, read.err);
    t.match(read.out, /^REV\s+POSITION\s+OCCURRED_AT\s+TYPE\s+ACTOR\s+DATA/);
    t.match(read.out, /alice\.cli@example\.com/);
    const asJson = keep(await cli(env, ['events', 'read', `session-${bob.session_id}`, '--json']));
    const api = json<{ events: EventView[] }>(await app.inject({ method: 'GET', url: `/v1/admin/streams/session-${bob.session_id}`, headers: auth }));
    t.same(ndjsonEvents(asJson.out), api.events);
    const from = ndjsonEvents((await cli(env, ['events', 'read', `session-${bob.session_id}`, '--from', '1', '--json'])).out);
    t.same(from.map((e) => e.revision), ['1']);

    const missing = await cli(env, ['events', 'read', `user-${randomUUID()}`]);
    t.equal(missing.code, 1);
    t.match(missing.err, /has no events/);
    t.equal((await cli(env, ['events', 'read'])).code, 2);
    t.equal((await cli(env, ['events', 'read', 'a', 'b'])).code, 2);
  });

  await t.test('colours only on a terminal, and not with NO_COLOR', async (t) => {
    const tty = await cli(env, ['events', 'read', `user-${alice.user.id}`], { tty: true });
    t.match(tty.out, /\u001b\[1mREV/);
    const noColor = await cli({ ...env, NO_COLOR: '1' }, ['events', 'read', `user-${alice.user.id}`], { tty: true });
    t.notMatch(noColor.out, /\u001b\[/);
    const status = await cli(env, ['projections', 'status'], { tty: true });
    t.match(status.out, /\u001b\[1mNAME/);
  });

  await t.test('migrate (the service\'s own command) on a migrated database', async (t) => {
    const run = await cli(env, ['migrate', '--json']);
    t.equal(run.code, 0, run.err);
    t.match(JSON.parse(run.out), { ok: true, projections: { users: /^[0-9]+$/ } });
  });

  await t.test('projections status and rebuild', async (t) => {
    const status = await cli(env, ['projections', 'status']);
    t.equal(status.code, 0, status.err);
    t.match(status.out, /^NAME\s+VERSION\s+POSITION\s+HEAD\s+LAG_EVENTS\s+LAG_MS/);
    for (const name of ['users', 'sessions', 'activity', 'webhooks']) t.match(status.out, new RegExp(`^${name}\\s`, 'm'));
    await ensureReactor(ctx.runtime.sql, 'messages', 7n); // as a running service leaves it
    t.match((await cli(env, ['projections', 'status'])).out, /^REACTOR\s+POSITION\s+HELD\s+FAILING\n[- ]+\nmessages\s+7\s+no/m);
    const asJson = JSON.parse((await cli(env, ['projections', 'status', '--json'])).out) as {
      projections: { name: string; position: string; head: string; lag_events: number }[];
      reactors: { name: string; position: string; held: boolean; failing: unknown }[];
    };
    t.match(asJson.reactors, [{ name: 'messages', position: '7', held: false, failing: null }], 'the reactors too');
    t.same(asJson.projections.map((p) => p.name), ['users', 'sessions', 'activity', 'webhooks']);
    for (const p of asJson.projections) t.match(p, { position: /^[0-9]+$/, head: /^[0-9]+$/, lag_events: Number });

    const rebuild = await cli(env, ['projections', 'rebuild', 'users']);
    t.equal(rebuild.code, 0, rebuild.err);
    t.match(rebuild.out, /^rebuilt users from \d+ events/);
    t.match(rebuild.err, /rebuild users: \d+ events replayed \(position \d+\)/, 'progress on stderr');
    const users = json<{ users: unknown[] }>(await app.inject({ method: 'GET', url: '/v1/admin/users', headers: auth }));
    t.ok(users.users.length >= 4, 'the service reads the rebuilt model');

    const unknown = await cli(env, ['projections', 'rebuild', 'nope']);
    t.equal(unknown.code, 2);
    t.match(unknown.err, /unknown projection "nope"; the projections are users, sessions, activity/);
    t.equal((await cli(env, ['projections', 'rebuild'])).code, 2);
  });

  await t.test('events copy to another PostgreSQL database, resumable', async (t) => {
    const targetUrl = await createTestDatabaseUrl(t);
    if (!targetUrl) throw new Error('no target database');
    const dir = mkdtempSync(join(tmpdir(), 'authstream-copy-'));
    t.teardown(() => rmSync(dir, { recursive: true, force: true }));
    const checkpoint = join(dir, 'copy.checkpoint');
    // Reads see events below the oldest running transaction of the whole server (the
    // store's visibility horizon); other tests may hold one open for a while: wait until
    // every committed event is readable, so the copy is complete.
    const { rows } = await ctx.db.sql.query<{ n: number }>('select count(*)::int as n from eventstore.events');
    const committed = rows[0]?.n ?? 0;
    const readable = async () => (await ctx.runtime.store.readAll({ maxCount: 100_000 })).length;
    for (const deadline = Date.now() + 30_000; (await readable()) < committed && Date.now() < deadline;) {
      await new Promise((r) => setTimeout(r, 50));
    }

    const first = await cli(env, ['events', 'copy', '--to-url', targetUrl, '--checkpoint', checkpoint, '--batch-size', '7']);
    t.equal(first.code, 0, first.err);
    t.match(first.out, /^copied \d+ events, skipped 0 already in the target; checkpoint /);
    t.match(first.err, /copied \d+ events \(source position \d+\)/, 'progress on stderr');

    const source = await ctx.runtime.store.readAll({ maxCount: 100_000 });
    t.equal(source.length, committed);
    const sql = new PgSql({ connectionString: targetUrl, max: 2 });
    t.teardown(() => sql.close());
    const target = await PostgresEventStore.open(sql);
    t.teardown(() => target.close());
    let copied = await target.readAll({ maxCount: 100_000 });
    for (const deadline = Date.now() + 30_000; copied.length < source.length && Date.now() < deadline;) {
      await new Promise((r) => setTimeout(r, 50));
      copied = await target.readAll({ maxCount: 100_000 });
    }
    t.same(copied.map((e) => [e.streamId, e.revision, e.id, e.type]), source.map((e) => [e.streamId, e.revision, e.id, e.type]), 'every event, in order');

    const again = await cli(env, ['events', 'copy', '--to-url', targetUrl, '--checkpoint', checkpoint, '--json']);
    t.equal(again.code, 0, again.err);
    t.match(again.err, /resuming after source position \d+/);
    t.match(JSON.parse(again.out), { copied: 0, skipped: 0, checkpoint });

    const fresh = await cli(env, ['events', 'copy', '--to-url', targetUrl, '--checkpoint', join(dir, 'other.checkpoint'), '--json']);
    t.match(JSON.parse(fresh.out), { copied: 0, skipped: source.length }, 'idempotent without a checkpoint');

    const cases: [string[], RegExp][] = [
      [[], /give one of --to-url or --to-eventstoredb/],
      [['--to-url', targetUrl, '--to-eventstoredb', 'esdb://localhost:2113'], /give one of/],
      [['--to-url', 'http://example.com'], /--to-url must be a postgres:\/\/ URL/],
      [['--to-eventstoredb', 'postgres://x'], /--to-eventstoredb must be an esdb:\/\/ URL/],
      [['--to-url', ctx.db.url ?? ''], /the target is the configured event store itself/],
      [['--to-url', targetUrl, '--batch-size', '0'], /--batch-size/],
    ];
    for (const [argv, message] of cases) {
      const run = await cli(env, ['events', 'copy', ...argv]);
      t.equal(run.code, 2, argv.join(' '));
      t.match(run.err, message);
    }
  });

  await t.test('CLI output is redacted like the admin API, erased users included', async (t) => {
    const erin = await register(app, { email: 'erin.cli@example.com', first_name: 'Erinyes' }, { 'user-agent': 'ErinAgent/2' });
    const del = await app.inject({ method: 'DELETE', url: `/v1/admin/users/${erin.user.id}`, headers: auth });
    t.equal(del.statusCode, 204, del.body);
    const read = keep(await cli(env, ['events', 'read', `user-${erin.user.id}`, '--json']));
    t.match(ndjsonEvents(read.out)[0], { type: 'UserRegistered', data: { email: null, first_name: null }, metadata: { user_agent: null } });
    keep(await cli(env, ['events', 'tail', '--json', '--limit', '100000']));
    keep(await cli(env, ['events', 'tail', '--limit', '100000']));
    const all = outputs.join('\n');
    t.match(all, 'alice.cli@example.com', 'live personal data is shown');
    t.notMatch(all, /erin\.cli|Erinyes|ErinAgent/, 'the erased user\'s data is not');
    t.notMatch(all, /\$argon2|"pii"|_hash"|v1\.[A-Za-z0-9_-]{16}\.|PRIVATE KEY/, 'no secrets');
    for (const token of [alice.refresh_token, bob.refresh_token, ctx.config.masterKey ?? '']) t.notOk(all.includes(token));
  });
});

t.test('admin create against an embedded data directory a running service holds: refused, nothing claimed', async (t) => {
  const dataDir = mkdtempSync(join(tmpdir(), 'authstream-cli-lock-'));
  t.teardown(() => rmSync(dataDir, { recursive: true, force: true }));
  const env = { DATA_DIR: dataDir, MASTER_KEY: randomBytes(32).toString('base64'), LOG_LEVEL: 'silent' };
  const service = await PgliteSql.open(join(dataDir, 'pglite')); // what `npm start` holds while it runs
  const run = await cli(env, ['admin', 'create', '--email', 'late@example.com', '--password', 'long enough password']);
  t.equal(run.code, 1);
  t.match(run.err, /configuration error: DATA_DIR: the embedded database .* is in use by process \d+/);
  t.notMatch(run.out, /created/, 'never "created" for a write that would be lost');
  await service.close();
  const after = await cli(env, ['admin', 'create', '--email', 'late@example.com', '--password', 'long enough password']);
  t.equal(after.code, 0, after.err);
  t.match(after.out, /created/, 'once the service has stopped, it works');
});
