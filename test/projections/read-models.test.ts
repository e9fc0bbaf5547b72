import t from 'tap';
import { sessionStream, userStream } from '../../src/domain/events.js';
import type { Decoded } from '../../src/ports/events.js';
import type { SqlExecutor } from '../../src/ports/sql.js';
import { migrateProjections } from '../../src/projections/engine/checkpoints.js';
import { allProjections } from '../../src/projections/index.js';
import { activity } from '../../src/projections/activity/queries.js';
import { getSession, listSessions, revokedSessionsSince, sessionIdsOfUser } from '../../src/projections/sessions/queries.js';
import { findUserIdByEmail, findUserIdByPhone, getUser, searchUsers } from '../../src/projections/users/queries.js';
import { liveTable, shadowTable, type TableNamer } from '../../src/projections/engine/tables.js';
import { usersProjection } from '../../src/projections/users/projection.js';
import {
  ALICE, BOB, BOB_PERSONAL, CAROL, READ_MODEL_TABLES, S, Writer, checkpoints, makeRunner, openEnv, personalDataLeft, runScenario,
  snapshot, snapshotTable, type Env,
} from '../helpers/projections.js';

async function timeOf(env: Env, stream: string, type: string, nth = 0): Promise<Date> {
  const events = (await env.store.readStream(stream)).filter((e) => e.type === type);
  const e = events[nth];
  if (!e) throw new Error(`no ${type} #${nth} in ${stream}`);
  return e.occurredAt;
}

async function expiresOf(env: Env, stream: string, type: string, nth = 0): Promise<Date> {
  const e = (await env.store.readStream(stream)).filter((x) => x.type === type)[nth];
  return new Date(String(e?.data.expires_at));
}

void t.test('read models after a scenario, and the queries over them', async (t) => {
  const env = await openEnv(t);
  const { runner, log } = makeRunner(env, t);
  await runner.start();
  const w = new Writer(env);
  const last = await runScenario(w);
  t.ok(await runner.waitFor(last.position, 10_000), 'caught up');
  t.same(log.errors, [], 'no errors logged');
  const db = env.sql;

  await t.test('users', async (t) => {
    const alice = await getUser(db, ALICE);
    t.same(alice, {
      id: ALICE, email: 'alicia@example.com', phone: '+15550009', firstName: 'Alicia', lastName: 'Liddell',
      roles: ['admin', 'auditor'], status: 'active', emailVerified: false, phoneVerified: false,
      createdAt: await timeOf(env, userStream(ALICE), 'UserRegistered'),
      updatedAt: await timeOf(env, userStream(ALICE), 'UserEnabled'),
    });
    const bob = await getUser(db, BOB);
    t.same(bob, {
      id: BOB, email: null, phone: null, firstName: '', lastName: '', roles: [], status: 'erased', emailVerified: false, phoneVerified: false,
      createdAt: await timeOf(env, userStream(BOB), 'UserRegistered'),
      updatedAt: await timeOf(env, userStream(BOB), 'UserErased'),
    });
    t.equal((await getUser(db, CAROL))?.status, 'disabled');
    t.same((await getUser(db, CAROL))?.roles, []);
    t.equal(await getUser(db, '0a11ce00-0000-4000-8000-0000000000ff'), null);
    t.equal(await getUser(db, 'not-a-uuid'), null);

    t.equal(await findUserIdByEmail(db, 'ALICIA@Example.COM'), ALICE, 'email lookup ignores case');
    t.equal(await findUserIdByEmail(db, 'alice@example.com'), null, 'the old email is gone');
    t.equal(await findUserIdByEmail(db, 'bob@example.org'), null, 'erased users cannot be found');
    t.equal(await findUserIdByPhone(db, '+15550009'), ALICE);
    t.equal(await findUserIdByPhone(db, '+15550001'), null);
  });

  await t.test('searchUsers', async (t) => {
    const ids = async (query: string | null, limit = 50): Promise<string[]> =>
      (await searchUsers(db, { query, limit })).users.map((u) => u.id);
    t.same(await ids('LIDD'), [ALICE], 'last name, any case');
    t.same(await ids('alicia lidd'), [ALICE], 'full name');
    t.same(await ids('example'), [ALICE, CAROL], 'email substring; the erased user has none');
    t.same(await ids('5550009'), [ALICE], 'phone substring');
    t.same(await ids(null), [ALICE, BOB, CAROL], 'no query: every user, erased included, oldest first');
    t.same(await ids('%'), [], 'LIKE wildcards are literal');
    t.same(await ids('_'), [], 'LIKE wildcards are literal');

    const seen: string[] = [];
    let cursor: string | null = null;
    let pages = 0;
    do {
      const page = await searchUsers(db, { query: '', limit: 2, cursor });
      seen.push(...page.users.map((u) => u.id));
      cursor = page.nextCursor;
      pages += 1;
    } while (cursor && pages < 10);
    t.same(seen, [ALICE, BOB, CAROL], 'keyset pages');
    t.equal(pages, 2);
    await t.rejects(searchUsers(db, { cursor: 'garbage' }), { code: 'validation_failed' });
    await t.rejects(searchUsers(db, { limit: 0 }), { code: 'validation_failed' });
  });

  await t.test('sessions', async (t) => {
    const a1 = await getSession(db, S.a1);
    t.same(a1, {
      id: S.a1, userId: ALICE,
      createdAt: await timeOf(env, sessionStream(S.a1), 'SessionStarted'),
      lastUsedAt: await timeOf(env, sessionStream(S.a1), 'RefreshTokenRotated', 1),
      expiresAt: await expiresOf(env, sessionStream(S.a1), 'RefreshTokenRotated', 1),
      userAgent: 'Firefox/140', ip: '198.51.100.1', revokedAt: null, revokedReason: null,
    }, 'rotations move last use and expiry; ip and agent are the start’s');
    const a2 = await getSession(db, S.a2);
    t.equal(a2?.revokedReason, 'reuse_detected');
    t.same(a2?.revokedAt, await timeOf(env, sessionStream(S.a2), 'SessionRevoked'));
    t.equal(a2?.ip, '198.51.100.3');
    t.equal((await getSession(db, S.a3))?.revokedReason, 'logout');
    t.equal((await getSession(db, S.c1))?.revokedReason, 'user_disabled');
    for (const id of [S.b1, S.b2]) {
      const s = await getSession(db, id);
      t.match(s, { userId: BOB, ip: null, userAgent: null, revokedReason: 'user_erased' }, 'erased user’s session keeps no ip');
    }

    const now = w.now();
    t.same((await listSessions(db, ALICE, now)).map((s) => s.id), [S.a1], 'only live sessions');
    t.same(await listSessions(db, ALICE, new Date(now.getTime() + 400 * 86_400_000)), [], 'expired ones are not listed');
    t.same(await sessionIdsOfUser(db, ALICE), [S.a1]);
    t.same(await sessionIdsOfUser(db, CAROL), []);
    t.same(await sessionIdsOfUser(db, ALICE, new Date(now.getTime() + 400 * 86_400_000)), []);
    t.same(
      (await revokedSessionsSince(db, new Date(0))).sort(),
      [S.a2, S.a3, S.b1, S.b2, S.c1].sort(),
      'every revoked session',
    );
    t.same(await revokedSessionsSince(db, await timeOf(env, sessionStream(S.b1), 'SessionRevoked')), [S.b1, S.b2]);
    const columns = (await db.query<{ column_name: string }>(
      `select column_name from information_schema.columns where table_schema = 'authstream' and table_name = 'sessions'`)).rows;
    t.notOk(columns.some((c) => /hash|token/.test(c.column_name)), 'no token hashes in the read model');
  });

  await t.test('activity', async (t) => {
    const all = await activity(db, ALICE, 100);
    t.same(all.map((a) => a.type), [
      'LoginFailed', 'UserEnabled', 'UserDisabled', 'RoleRevoked', 'RoleGranted', 'RoleGranted', 'PasswordChanged',
      'SessionRevoked', 'SessionStarted', 'SessionRevoked', 'RefreshTokenReuseDetected', 'SessionStarted',
      'RefreshTokenRotated', 'SessionStarted', 'PhoneChanged', 'EmailChanged',
      'ProfileUpdated', 'UserRegistered',
    ], 'newest first, every event that concerns Alice; a session\'s refreshes as one row');
    t.same(all.find((a) => a.type === 'RefreshTokenRotated')?.occurredAt, await timeOf(env, sessionStream(S.a1), 'RefreshTokenRotated', 1),
      'the refresh row is the session\'s latest rotation');
    t.same((await activity(db, ALICE, 2)).map((a) => a.type), ['LoginFailed', 'UserEnabled']);
    t.match(all[0], { ip: '203.0.113.50', userAgent: 'Bot/1', sessionId: null });
    t.match(all.find((a) => a.type === 'RefreshTokenReuseDetected'), { sessionId: S.a2, ip: '203.0.113.9', userAgent: 'curl/8' });
    t.match(all.find((a) => a.type === 'PasswordChanged'), { sessionId: S.a1 });
    const bob = await activity(db, BOB, 100);
    t.equal(bob.length, 8);
    t.ok(bob.every((a) => a.ip === null && a.userAgent === null), 'no ip or agent of the erased user');
    t.equal(bob[3]?.type, 'UserErased');
    t.equal((await activity(db, CAROL, 100)).length, 4);
  });

  await t.test('no personal data of the erased user anywhere', async (t) => {
    t.same(await personalDataLeft(db, BOB_PERSONAL), []);
    t.same(await personalDataLeft(db, ['Alicia', '198.51.100.1']), ['Alicia', '198.51.100.1'], 'the check does find data');
  });
});

/// Idempotency and batch-size independence, applying the projections directly.

async function applyIn(db: Env['sql'], events: Decoded[], table: TableNamer, batch: number): Promise<void> {
  for (const p of allProjections()) {
    for (let i = 0; i < events.length; i += batch) {
      await db.transaction((tx) => p.apply(tx, events.slice(i, i + batch), table));
    }
  }
}

async function setupAll(db: Env['sql'], table: TableNamer): Promise<void> {
  await db.transaction(async (tx: SqlExecutor) => {
    for (const p of allProjections()) await p.setup(tx, table);
  });
}

async function shadowSnapshot(db: SqlExecutor): Promise<Record<string, unknown[]>> {
  const out: Record<string, unknown[]> = {};
  for (const [table, key] of Object.entries(READ_MODEL_TABLES)) {
    out[table] = await snapshotTable(db, `${table}__rebuild`, key);
  }
  return out;
}

void t.test('apply is idempotent and independent of batch boundaries', async (t) => {
  const env = await openEnv(t);
  await migrateProjections(env.sql);
  const w = new Writer(env);
  await runScenario(w);
  // readAll shows only what every transaction open in the cluster has let by (gap-safe
  // order; other test files share the server): wait until it shows the scenario's events.
  const head = await env.store.lastPosition();
  let raws = await env.store.readAll({ maxCount: 10_000 });
  for (let i = 0; i < 300 && (raws.at(-1)?.position ?? 0n) < head; i++) {
    await new Promise((resolve) => setTimeout(resolve, 50));
    raws = await env.store.readAll({ maxCount: 10_000 });
  }
  const events = await env.codec.decodeAll(raws);
  t.ok(events.length > 30, `${events.length} events`);

  await setupAll(env.sql, liveTable);
  await applyIn(env.sql, events, liveTable, events.length);
  const once = await snapshot(env.sql);
  t.equal(once.users?.length, 3, `users: ${JSON.stringify(once.users)}`);

  await applyIn(env.sql, events, liveTable, events.length);
  t.same(await snapshot(env.sql), once, 'the same batch twice');
  const half = events.slice(Math.floor(events.length / 2));
  await applyIn(env.sql, half, liveTable, half.length);
  t.same(await snapshot(env.sql), once, 'a replayed suffix');
  await applyIn(env.sql, events.slice(-1), liveTable, 1);
  t.same(await snapshot(env.sql), once, 'the last event again');

  for (const batch of [1, 3, 7]) {
    await env.sql.transaction(async (tx) => {
      for (const table of ['users', 'sessions', 'session_erasures', 'activity']) await tx.query(`drop table if exists ${shadowTable(table)}`);
    });
    await setupAll(env.sql, shadowTable);
    await applyIn(env.sql, events, shadowTable, batch);
    t.same(await shadowSnapshot(env.sql), once, `batches of ${batch} give the same rows`);
  }
});

void t.test('keyset pagination is exact with equal creation times', async (t) => {
  const env = await openEnv(t);
  await migrateProjections(env.sql);
  await setupAll(env.sql, liveTable);
  const at = new Date('2030-05-05T05:05:05.123Z');
  const ids = Array.from({ length: 7 }, (_, i) => `00000000-0000-4000-8000-00000000000${i}`);
  const events = ids.map((id, i) => ({
    type: 'UserRegistered', id: `e${i}`, streamId: userStream(id), revision: 0n, position: BigInt(i + 1), occurredAt: at, recordedAt: at,
    data: { user_id: id, email: `same${i}@x.org`, phone: null, first_name: 'Same', last_name: 'Time', password_hash: '', roles: [] },
    metadata: { correlation_id: null, causation_id: null, actor_id: null, request_id: null, ip: null, user_agent: null, schema_version: 1 },
    shredded: false,
  }) satisfies Decoded);
  await env.sql.transaction((tx) => usersProjection.apply(tx, events.reverse(), liveTable));
  const seen: string[] = [];
  let cursor: string | null = null;
  for (let i = 0; i < 10; i++) {
    const page = await searchUsers(env.sql, { query: 'same', limit: 3, cursor });
    seen.push(...page.users.map((u) => u.id));
    cursor = page.nextCursor;
    if (!cursor) break;
  }
  t.same(seen, ids, 'every user once, ordered by (created_at, id)');
});

void t.test('replay with an older checkpoint leaves the same rows', async (t) => {
  const env = await openEnv(t);
  const { runner, log } = makeRunner(env, t, { batchSize: 5 });
  await runner.start();
  const w = new Writer(env);
  const last = await runScenario(w);
  t.ok(await runner.waitFor(last.position, 10_000));
  const before = await snapshot(env.sql);
  await runner.stop();

  const all = await env.store.readAll({ maxCount: 10_000 });
  const middle = all[Math.floor(all.length / 3)]?.position ?? 0n;
  await env.sql.query(`update authstream.projection_checkpoints set position = $1`, [middle.toString()]);
  const again = makeRunner(env, t, { batchSize: 4 });
  await again.runner.start();
  t.ok(await again.runner.waitFor(last.position, 10_000));
  t.same(await snapshot(env.sql), before, 'replayed from a third of the way: same rows');
  t.same(Object.values(await checkpoints(env.sql)), allProjections().map(() => last.position.toString()));
  t.same([...log.errors, ...again.log.errors], []);
});
