import { randomUUID } from 'node:crypto';
import t from 'tap';
import type { DomainEvent } from '../../../src/domain/events.js';
import { PgSql } from '../../../src/infra/sql/pg.js';
import type { Sql } from '../../../src/ports/sql.js';
import { allProjections } from '../../../src/projections/index.js';
import { RebuildInProgressError } from '../../../src/projections/engine/runner.js';
import type { Projection } from '../../../src/ports/projections.js';
import { usersProjection } from '../../../src/projections/users/projection.js';
import { usingServer } from '../../helpers/db.js';
import {
  BOB_PERSONAL, Writer, checkpoints, makeRunner, openEnv, oracleSnapshot, personalDataLeft, runScenario, snapshot,
  type Env,
} from '../../helpers/projections.js';

async function indexNames(db: Sql): Promise<string[]> {
  const { rows } = await db.query<{ indexname: string }>(
    `select indexname from pg_indexes where schemaname = 'authstream' order by indexname`);
  return rows.map((r) => r.indexname);
}

/** Every index of the read models with its definition (shadow names mapped to live ones), and each table's persistence. */
async function physical(db: Sql): Promise<{ indexes: string[]; persistence: Record<string, string> }> {
  const { rows } = await db.query<{ indexdef: string }>(
    `select indexdef from pg_indexes where schemaname = 'authstream' order by indexname`);
  const { rows: tables } = await db.query<{ relname: string; relpersistence: string }>(
    `select c.relname, c.relpersistence from pg_class c join pg_namespace n on n.oid = c.relnamespace
     where n.nspname = 'authstream' and c.relkind = 'r' order by c.relname`);
  return {
    indexes: rows.map((r) => r.indexdef),
    persistence: Object.fromEntries(tables.map((r) => [r.relname, r.relpersistence])),
  };
}

async function tableNames(db: Sql): Promise<string[]> {
  const { rows } = await db.query<{ tablename: string }>(
    `select tablename from pg_tables where schemaname = 'authstream' order by tablename`);
  return rows.map((r) => r.tablename);
}

/**
 * `users` users, each registered and changed three times: 4 events per user, several
 * users per append (the stream does not matter to the read models). Returns the last position.
 */
async function bulkUsers(env: Env, users: number, usersPerAppend = 50): Promise<bigint> {
  const w = new Writer(env);
  const ids = Array.from({ length: users }, () => randomUUID());
  for (let i = 0; i < ids.length; i += 10) await Promise.all(ids.slice(i, i + 10).map((id) => env.keys.create(id)));
  let last = 0n;
  for (let i = 0; i < ids.length; i += usersPerAppend) {
    const events = ids.slice(i, i + usersPerAppend).flatMap((id, j): DomainEvent[] => [
      { type: 'UserRegistered', data: { user_id: id, email: `user${i + j}@bulk.test`, phone: null, first_name: `First${i + j}`, last_name: 'Bulk', password_hash: 'h', roles: ['user'] } },
      { type: 'ProfileUpdated', data: { user_id: id, first_name: `Renamed${i + j}`, last_name: 'Bulk' } },
      { type: 'RoleGranted', data: { user_id: id, role: 'tester' } },
      { type: 'EmailChanged', data: { user_id: id, email: `changed${i + j}@bulk.test` } },
    ]);
    last = (await w.append(`bulk-${randomUUID()}`, events, { ip: '198.51.100.200', userAgent: 'bulk' })).position;
  }
  return last;
}

void t.test('rebuild equals live, and the erased user’s data is gone before and after', async (t) => {
  const env = await openEnv(t);
  const { runner, log } = makeRunner(env, t, { batchSize: 3 });
  await runner.start();
  const indexesBefore = await indexNames(env.sql);
  const tablesBefore = await tableNames(env.sql);
  const physicalBefore = await physical(env.sql);
  t.ok(Object.values(physicalBefore.persistence).every((p) => p === 'p'), 'live tables are logged');
  const w = new Writer(env);
  const last = await runScenario(w, async () => {
    // Let the live runner apply Bob's events while his key still decrypts them.
    t.ok(await runner.waitFor(await env.store.lastPosition(), 10_000));
  });
  t.ok(await runner.waitFor(last.position, 10_000));
  const live = await snapshot(env.sql);
  t.same(await personalDataLeft(env.sql, BOB_PERSONAL), [], 'live: nothing of Bob');
  t.equal(live.users?.length, 3);

  for (const p of allProjections()) {
    const progress: Array<[number, bigint]> = [];
    await runner.rebuild(p.name, (applied, position) => progress.push([applied, position]));
    t.ok(progress.length > 0, `${p.name}: progress reported`);
    t.equal(progress.at(-1)?.[1], last.position, `${p.name}: replayed to the head`);
  }
  t.same(await snapshot(env.sql), live, 'rebuilt rows equal the live rows');
  t.same(await personalDataLeft(env.sql, BOB_PERSONAL), [], 'rebuilt: nothing of Bob');
  t.same(await indexNames(env.sql), indexesBefore, 'indexes keep their live names');
  t.same(await physical(env.sql), physicalBefore, 'the swapped-in tables are logged again and have every index, as defined');
  t.same(await tableNames(env.sql), tablesBefore, 'no shadow or old tables left');
  t.same(new Set(Object.values(await checkpoints(env.sql))), new Set([last.position.toString()]));

  await runner.rebuild('users');
  t.same(await snapshot(env.sql), live, 'a second rebuild (renamed indexes) works too');

  // The runner keeps applying to the swapped-in tables.
  const more = await w.register('0d0d0000-0000-4000-8000-000000000004', { email: 'dora@x.org' });
  t.ok(await runner.waitFor(more.position, 10_000));
  t.equal((await snapshot(env.sql)).users?.length, 4);
  t.same(log.errors, []);
});

void t.test('rebuild under concurrent reads: readers see the complete old or new table, never a partial one', { timeout: 90_000 }, async (t) => {
  const env = await openEnv(t, { max: 12 });
  const USERS = 1250; // 5,000 events
  let started = Date.now();
  const last = await bulkUsers(env, USERS);
  const written = Date.now() - started;
  started = Date.now();
  const { runner, log } = makeRunner(env, t);
  await runner.start();
  t.ok(await runner.waitFor(last, 30_000), 'live caught up');
  t.comment(`written in ${written} ms, applied live in ${Date.now() - started} ms`);
  const before = await snapshot(env.sql);

  let reading = true;
  const counts = { users: new Map<number, number>(), activity: new Map<number, number>() };
  const reader = async (db: Sql): Promise<void> => {
    while (reading) {
      for (const table of ['users', 'activity'] as const) {
        const { rows } = await db.query<{ n: number }>(`select count(*)::int as n from authstream.${table}`);
        const n = rows[0]?.n ?? -1;
        counts[table].set(n, (counts[table].get(n) ?? 0) + 1);
      }
    }
  };
  const readers = [reader(env.sql), reader(env.sql)];
  const timings: string[] = [];
  try {
    for (const name of ['users', 'activity']) {
      const started = Date.now();
      let applied = 0;
      await runner.rebuild(name, (n) => (applied = n));
      const ms = Date.now() - started;
      timings.push(`${name}: ${applied} events in ${ms} ms (${Math.round((applied / ms) * 1000)} events/s)`);
    }
  } finally {
    reading = false;
    await Promise.all(readers);
  }
  t.comment(`rebuild speed: ${timings.join('; ')}`);
  t.same([...counts.users.keys()], [USERS], `users: only complete counts (${counts.users.get(USERS)} reads)`);
  t.same([...counts.activity.keys()], [USERS * 4], `activity: only complete counts (${counts.activity.get(USERS * 4)} reads)`);
  t.ok((counts.users.get(USERS) ?? 0) > 10, 'reads ran during the rebuild');
  t.same(await snapshot(env.sql), before, 'same rows after the rebuild');
  t.same(log.errors, []);
});

void t.test('rebuild while events keep arriving: the swap catches up with the live checkpoint', async (t) => {
  const env = await openEnv(t);
  await bulkUsers(env, 300);
  const { runner, log } = makeRunner(env, t, { rebuildBatchSize: 100, batchSize: 50 });
  await runner.start();
  let writing = true;
  const writer = (async () => {
    let last = 0n;
    while (writing) last = await bulkUsers(env, 5, 2);
    return last;
  })();
  await runner.rebuild('users');
  await runner.rebuild('activity');
  writing = false;
  const last = await writer;
  t.ok(await runner.waitFor(last, 20_000));
  t.same(await snapshot(env.sql), await oracleSnapshot(env), 'rows equal a clean application of every event');
  t.same(log.errors, []);
});

void t.test('a version bump makes start() rebuild the projection', async (t) => {
  const env = await openEnv(t);
  const w = new Writer(env);
  const last = await runScenario(w);
  const first = makeRunner(env, t);
  await first.runner.start();
  t.ok(await first.runner.waitFor(last.position, 10_000));
  const before = await snapshot(env.sql);
  await first.runner.stop();

  let setups = 0;
  const v2: Projection = {
    ...usersProjection,
    version: usersProjection.version + 1,
    setup: async (tx, table) => {
      setups += 1;
      await usersProjection.setup(tx, table);
    },
  };
  const second = makeRunner(env, t, { projections: [v2, ...allProjections().filter((p) => p.name !== 'users')] });
  await second.runner.start();
  t.equal(setups, 1, 'the new version was set up once, in shadow tables');
  const { rows } = await env.sql.query<{ version: number }>(
    `select version from authstream.projection_checkpoints where name = 'users'`);
  t.equal(rows[0]?.version, usersProjection.version + 1);
  t.same(await snapshot(env.sql), before);
  t.ok(await second.runner.waitFor(last.position, 1000));
});

void t.test('one rebuild at a time; a failed rebuild leaves the live tables and cleans up', async (t) => {
  const env = await openEnv(t);
  const last = await runScenario(new Writer(env));
  let failRebuild = false;
  const fragile: Projection = {
    ...usersProjection,
    apply: async (tx, events, table) => {
      if (failRebuild && table('users').endsWith('__rebuild')) throw new Error('bug in the new code');
      await usersProjection.apply(tx, events, table);
    },
  };
  const { runner } = makeRunner(env, t, { projections: [fragile, ...allProjections().filter((p) => p.name !== 'users')] });
  await runner.start();
  t.ok(await runner.waitFor(last.position, 10_000));
  const before = await snapshot(env.sql);
  const tables = await tableNames(env.sql);

  const results = await Promise.allSettled([runner.rebuild('users'), runner.rebuild('users')]);
  t.equal(results.filter((r) => r.status === 'fulfilled').length, 1, 'one rebuild ran');
  const rejected = results.find((r): r is PromiseRejectedResult => r.status === 'rejected');
  t.ok(rejected?.reason instanceof RebuildInProgressError, 'the other was refused');

  failRebuild = true;
  await t.rejects(runner.rebuild('users'), /bug in the new code/);
  t.same(await snapshot(env.sql), before, 'live rows untouched');
  t.same(await tableNames(env.sql), tables, 'shadow tables dropped');
  failRebuild = false;
  await runner.rebuild('users');
  t.same(await snapshot(env.sql), before, 'the lease was released: a new rebuild runs');
  await t.rejects(runner.rebuild('nope'), /unknown projection/);
});

void t.test('a rebuild from another instance is seen by a running one', { skip: (await usingServer()) ? false : 'needs a server' }, async (t) => {
  const env = await openEnv(t);
  const { runner } = makeRunner(env, t);
  await runner.start();
  const last = await runScenario(new Writer(env));
  t.ok(await runner.waitFor(last.position, 10_000));
  const before = await snapshot(env.sql);
  const sql2 = new PgSql({ connectionString: env.url ?? '', max: 3 });
  t.teardown(() => sql2.close());
  const other = makeRunner({ ...env, sql: sql2 }, t);
  await other.runner.rebuild('sessions'); // not started: an admin tool's instance
  const more = await new Writer(env).startSession('0a11ce00-0000-4000-8000-000000000001', randomUUID(), { ip: '198.51.100.9' });
  t.ok(await runner.waitFor(more.position, 10_000));
  const after = await snapshot(env.sql);
  t.equal(after.sessions?.length, (before.sessions?.length ?? 0) + 1, 'the running instance writes into the rebuilt table');
});
