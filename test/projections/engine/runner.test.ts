import t from 'tap';
import { PostgresEventStore } from '../../../src/eventstore/postgres/store.js';
import type { EventStore, RecordedEvent, Subscription } from '../../../src/ports/eventStore.js';
import { EventCodec } from '../../../src/infra/eventCodec.js';
import type { Decoded } from '../../../src/ports/events.js';
import { PgKeyStore } from '../../../src/infra/keyStore.js';
import { PgSql } from '../../../src/infra/sql/pg.js';
import { createTestDatabase, usingServer } from '../../helpers/db.js';
import {
  CHECKPOINTS_MOVED, advanceCheckpointsStatement, checkpointPositions, insertCheckpoint, lockCheckpointsStatement, migrateProjections,
} from '../../../src/projections/engine/checkpoints.js';
import { allProjections } from '../../../src/projections/index.js';
import { getUser } from '../../../src/projections/users/queries.js';
import { ProjectionRunner } from '../../../src/projections/engine/runner.js';
import { applyLiveBatch } from '../../../src/projections/engine/liveBatch.js';
import type { LiveConsumer } from '../../../src/ports/projections.js';
import {
  ALICE, BOB, BOB_PERSONAL, TestLog, Writer, allPositions, checkpoints, ledger, ledgerProjection, makeRunner, openEnv,
  oracleSnapshot, personalDataLeft, runScenario, snapshot, until,
} from '../../helpers/projections.js';

void t.test('an apply that throws rolls back rows and checkpoint; the batch is retried, never skipped', async (t) => {
  const env = await openEnv(t);
  const failing = ledgerProjection();
  failing.failNext = 3;
  const { runner, log } = makeRunner(env, t, { projections: [...allProjections(), failing] });
  await runner.start();
  const last = await runScenario(new Writer(env));
  t.ok(await runner.waitFor(last.position, 10_000), 'caught up despite the failures');
  t.equal(log.errors.length, 3, 'each failure logged');
  t.match(log.errors[0], { msg: /retrying the same batch/, obj: { reason: /injected failure after writing/ } });
  t.same(await ledger(env.sql), await allPositions(env), 'every event applied exactly once');
  t.same(await snapshot(env.sql), await oracleSnapshot(env));
});

void t.test('crash while a batch keeps failing: nothing half-applied; a restart resumes and ends equal', async (t) => {
  const env = await openEnv(t);
  const failing = ledgerProjection();
  failing.failNext = Number.MAX_SAFE_INTEGER;
  const first = makeRunner(env, t, { projections: [...allProjections(), failing], batchSize: 10 });
  await first.runner.start();
  const last = await runScenario(new Writer(env));
  t.ok(await until(() => first.log.errors.length >= 3), 'the ledger keeps failing');
  t.same(await ledger(env.sql), [], 'the failing transaction left no rows');
  t.equal((await checkpoints(env.sql)).ledger, '0', 'nor moved its checkpoint');
  t.equal(await first.runner.waitFor(last.position, 100), false, 'not caught up');
  await first.runner.stop(); // the "crash": the process goes away mid-retry

  const healthy = ledgerProjection();
  const second = makeRunner(env, t, { projections: [...allProjections(), healthy], batchSize: 7 });
  await second.runner.start();
  t.ok(await second.runner.waitFor(last.position, 10_000));
  t.same(second.log.errors, []);
  t.same(await ledger(env.sql), await allPositions(env), 'every event exactly once');
  t.same(await snapshot(env.sql), await oracleSnapshot(env), 'rows equal a clean application');
  t.same(new Set(Object.values(await checkpoints(env.sql))), new Set([last.position.toString()]));
});

void t.test('waitFor', async (t) => {
  const env = await openEnv(t);
  const { runner } = makeRunner(env, t);
  t.equal(await runner.waitFor(1n, 50), false, 'not started: times out');
  await runner.start();
  const w = new Writer(env);
  const registered = await w.register(ALICE, { email: 'a@x.org' });
  t.equal(await runner.waitFor(registered.position, 5000), true);
  t.equal((await getUser(env.sql, ALICE))?.email, 'a@x.org', 'read your write');
  t.equal(await runner.waitFor(registered.position, 1), true, 'already reached: immediate');
  for (const position of runner.positions().values()) t.ok(position >= registered.position);

  const started = Date.now();
  t.equal(await runner.waitFor(registered.position + 1_000_000_000n, 200), false, 'a position never written: false');
  t.ok(Date.now() - started >= 190, 'after the timeout');

  const pending = runner.waitFor(registered.position + 1_000_000_000n, 60_000);
  await runner.stop();
  t.equal(await pending, false, 'stop() settles waiters');
});

const needsServer = (await usingServer()) ? false : 'needs a PostgreSQL server (a second connection pool)';

for (const [label, writesOnly] of [['', false], [' (a writes-only ledger: batches sent in one go)', true]] as const) {
void t.test(`two instances on one database: no double application, rows equal one runner${label}`, { skip: needsServer }, async (t) => {
  const env = await openEnv(t);
  const sql2 = new PgSql({ connectionString: env.url ?? '', max: 5 });
  t.teardown(() => sql2.close());
  const store2 = await PostgresEventStore.open(sql2, { pollIntervalMs: 50 });
  t.teardown(() => store2.close());
  const codec2 = new EventCodec(await PgKeyStore.open(sql2, env.master));

  const a = makeRunner(env, t, { projections: [...allProjections(), ledgerProjection('ledger', { writesOnly })], batchSize: 3 });
  const log2 = new TestLog();
  const b = new ProjectionRunner({
    sql: sql2, store: store2, codec: codec2, projections: [...allProjections(), ledgerProjection('ledger', { writesOnly })], log: log2,
    batchSize: 4, retryFirstDelayMs: 20,
  });
  t.teardown(() => b.stop());
  await Promise.all([a.runner.start(), b.start()]);

  const w = new Writer(env);
  const extra = Array.from({ length: 20 }, (_, i) => `00000000-0000-4000-8000-0000000001${String(i).padStart(2, '0')}`);
  const [last, lastExtra] = await Promise.all([
    runScenario(w),
    (async () => {
      let position = 0n;
      for (const id of extra) position = (await new Writer(env).register(id, { email: `${id}@x.org` })).position;
      return position;
    })(),
  ]);
  const head = last.position > lastExtra ? last.position : lastExtra;
  t.ok(await a.runner.waitFor(head, 15_000), 'instance A caught up');
  t.ok(await b.waitFor(head, 15_000), 'instance B caught up (whoever applied)');
  t.same([...a.log.errors, ...log2.errors], [], 'no duplicate-key failure: nothing applied twice');
  t.same(await ledger(env.sql), await allPositions(env), 'every event exactly once');
  t.same(await snapshot(env.sql), await oracleSnapshot(env), 'rows equal one clean application');
  t.same(await personalDataLeft(env.sql, BOB_PERSONAL), []);
});
}

void t.test('a late instance skips what another applied and still reports it', async (t) => {
  const env = await openEnv(t);
  const a = makeRunner(env, t);
  await a.runner.start();
  const last = await runScenario(new Writer(env));
  t.ok(await a.runner.waitFor(last.position, 10_000));
  const before = await snapshot(env.sql);
  const b = makeRunner(env, t, { projections: [...allProjections(), ledgerProjection()] });
  await b.runner.start();
  t.ok(await b.runner.waitFor(last.position, 10_000));
  t.same(await snapshot(env.sql), before);
  t.same(await ledger(env.sql), await allPositions(env), 'the new projection replayed everything');
});

/** Delegates to a real store; its first subscriptions fail, as a store outage the adapter gave up on. */
class FlakyStore implements EventStore {
  readonly kind = 'postgres' as const;
  readonly inner: EventStore;
  failSubscriptions: number;
  subscriptions = 0;

  constructor(inner: EventStore, failSubscriptions: number) {
    this.inner = inner;
    this.failSubscriptions = failSubscriptions;
  }

  appendToStream(...args: Parameters<EventStore['appendToStream']>): ReturnType<EventStore['appendToStream']> {
    return this.inner.appendToStream(...args);
  }
  appendToStreams(...args: Parameters<EventStore['appendToStreams']>): ReturnType<EventStore['appendToStreams']> {
    return this.inner.appendToStreams(...args);
  }
  readStream(...args: Parameters<EventStore['readStream']>): ReturnType<EventStore['readStream']> {
    return this.inner.readStream(...args);
  }
  readStreams(...args: Parameters<EventStore['readStreams']>): ReturnType<EventStore['readStreams']> {
    return this.inner.readStreams(...args);
  }
  readAll(...args: Parameters<EventStore['readAll']>): ReturnType<EventStore['readAll']> {
    return this.inner.readAll(...args);
  }
  headPosition(): Promise<bigint> {
    return this.inner.headPosition();
  }

  lastPosition(): Promise<bigint> {
    return this.inner.lastPosition();
  }
  ping(): Promise<void> {
    return this.inner.ping();
  }
  close(): Promise<void> {
    return this.inner.close();
  }
  subscribeToAll(...args: Parameters<EventStore['subscribeToAll']>): Subscription {
    this.subscriptions += 1;
    if (this.failSubscriptions > 0) {
      this.failSubscriptions -= 1;
      if (this.failSubscriptions % 2 === 0) throw new Error('store down (subscribe threw)');
      const done = Promise.reject(new Error('store down (subscription ended)'));
      done.catch(() => {});
      return { done, stop: async () => {} };
    }
    return this.inner.subscribeToAll(...args);
  }
}

void t.test('store outages and decode failures: the runner restarts with backoff and skips nothing', async (t) => {
  const env = await openEnv(t);
  const flaky = new FlakyStore(env.store, 4);
  let decodeFailures = 2;
  const codec = {
    decodeAll: async (raws: readonly RecordedEvent[]): Promise<Decoded[]> => {
      if (decodeFailures > 0) {
        decodeFailures -= 1;
        throw new Error('key store unreachable');
      }
      return env.codec.decodeAll(raws);
    },
  };
  const { runner, log } = makeRunner(env, t, { store: flaky, codec, projections: [...allProjections(), ledgerProjection()] });
  await runner.start();
  const last = await runScenario(new Writer(env));
  t.ok(await runner.waitFor(last.position, 10_000));
  t.equal(flaky.subscriptions, 5, 'four failed subscriptions, then one that works');
  t.equal(log.errors.filter((e) => /subscription ended/.test(e.msg)).length, 4);
  t.equal(log.errors.filter((e) => /retrying the same batch/.test(e.msg)).length, 2);
  t.same(await ledger(env.sql), await allPositions(env));
});

void t.test('live consumers: same batches, in order, from their registration position', async (t) => {
  const env = await openEnv(t);
  const { runner, log } = makeRunner(env, t, { batchSize: 4 });
  const w = new Writer(env);
  await w.register(ALICE, { email: 'a@x.org' });
  const head = await env.store.headPosition();

  const recorder = (name: string): LiveConsumer & { batches: bigint[][] } => {
    const c = {
      name,
      batches: [] as bigint[][],
      apply(events: Decoded[]): void {
        c.batches.push(events.map((e) => e.position));
      },
    };
    return c;
  };
  const fromHead = recorder('from-head');
  runner.addConsumer(fromHead, head);
  await runner.start();
  await w.register(BOB, { email: 'b@x.org' });
  const last = await w.user(BOB, [{ type: 'UserDisabled', data: { user_id: BOB } }]);
  t.ok(await until(() => (runner.positions().get('from-head') ?? 0n) >= last.position));
  const seen = fromHead.batches.flat();
  t.same(seen.map(String), (await env.store.readAll({ after: head, maxCount: 100 })).map((e) => String(e.position)));
  t.ok(fromHead.batches.every((b) => b.length > 0 && b.length <= 4), 'batches as the runner got them');

  const late = recorder('late');
  runner.addConsumer(late, 0n); // registered while running, from the start: the runner re-subscribes
  t.ok(await until(() => (runner.positions().get('late') ?? 0n) >= last.position));
  t.same(late.batches.flat().map(String), await allPositions(env));
  t.same(fromHead.batches.flat().map(String), seen.map(String), 'the others are not fed twice');
  t.throws(() => runner.addConsumer(recorder('users'), 0n), /duplicate/);
  t.same(log.errors, []);
});

void t.test('status reports lag', async (t) => {
  const env = await openEnv(t);
  const { runner } = makeRunner(env, t, { statusScanLimit: 5 });
  await runner.start();
  const w = new Writer(env);
  const first = await w.register(ALICE, { email: 'a@x.org' });
  t.ok(await runner.waitFor(first.position));
  t.ok(await until(async () => (await runner.status())[0]?.head === first.position));
  for (const s of await runner.status()) t.match(s, { position: first.position, head: first.position, lag_events: 0, lag_ms: 0, lag_capped: false });
  await runner.stop();
  await w.user(ALICE, [{ type: 'UserDisabled', data: { user_id: ALICE } }]);
  await w.user(ALICE, [{ type: 'UserEnabled', data: { user_id: ALICE } }]);
  // The head only moves once no older transaction anywhere in the cluster is open: poll.
  t.ok(await until(async () => (await runner.status())[0]?.lag_events === 2));
  const status = await runner.status();
  t.same(status.map((s) => s.name), ['users', 'sessions', 'activity', 'webhooks']);
  for (const s of status) t.match(s, { kind: 'sql', lag_events: 2, lag_capped: false });
  t.ok((status[0]?.lag_ms ?? 0) > 0, 'the oldest pending event has waited');
  for (let i = 0; i < 5; i++) await w.user(ALICE, [{ type: 'UserDisabled', data: { user_id: ALICE } }]);
  t.ok(await until(async () => (await runner.status())[0]?.lag_capped === true));
  for (const s of await runner.status()) t.match(s, { lag_events: 5, lag_capped: true });
});

void t.test('a key cached past its destruction does not leak into the read models', async (t) => {
  // Instance B's key cache keeps Bob's key after A destroyed it: the read models must still end clean.
  const env = await openEnv(t);
  const codecB = new EventCodec(await PgKeyStore.open(env.sql, env.master));
  const { runner } = makeRunner(env, t, { codec: codecB });
  await runner.start();
  const w = new Writer(env);
  const last = await runScenario(w, async () => {
    const head = await env.store.headPosition();
    t.ok(await runner.waitFor(head, 10_000), 'Bob’s events applied with his key still cached');
  });
  t.ok(await runner.waitFor(last.position, 10_000));
  t.same(await personalDataLeft(env.sql, BOB_PERSONAL), []);
  t.same(await snapshot(env.sql), await oracleSnapshot(env));
  t.equal((await getUser(env.sql, BOB))?.status, 'erased');
});

void t.test('a checkpoint moved back while running: the runner notices and replays from there', async (t) => {
  const env = await openEnv(t);
  const ledgerP = ledgerProjection();
  const { runner, log } = makeRunner(env, t, { projections: [...allProjections(), ledgerP], batchSize: 6 });
  await runner.start();
  const w = new Writer(env);
  const last = await runScenario(w);
  t.ok(await runner.waitFor(last.position, 10_000));
  const before = await snapshot(env.sql);
  const positions = await allPositions(env);
  const middle = positions[Math.floor(positions.length / 2)] ?? '0';
  await env.sql.transaction(async (tx) => {
    await tx.query(`update authstream.projection_checkpoints set position = $1`, [middle]);
    await tx.query(`delete from authstream.ledger where position > $1`, [middle]);
  });
  const next = await w.user(ALICE, [{ type: 'UserDisabled', data: { user_id: ALICE } }]);
  t.ok(await runner.waitFor(next.position, 10_000));
  t.same(await ledger(env.sql), await allPositions(env), 'the ledger replayed exactly the missing events');
  const after = await snapshot(env.sql);
  t.equal((await getUser(env.sql, ALICE))?.status, 'disabled', 'the new event applied');
  t.same(after.sessions, before.sessions, 'replayed rows unchanged');
  t.same(after.activity?.length, (before.activity?.length ?? 0) + 1);
  t.same(log.errors, []);
});

void t.test('a batch sent in one go commits nothing when a checkpoint is not where its runner left it', async (t) => {
  const { sql } = await createTestDatabase(t);
  await migrateProjections(sql);
  for (const name of ['one', 'two']) await sql.transaction((tx) => insertCheckpoint(tx, name, 1));
  await sql.exec('create table applied (position bigint primary key)');
  const names = ['one', 'two'];
  const batch = (expected: Map<string, bigint>, position: bigint) => sql.pipelinedBatch(lockCheckpointsStatement(names), [
    { text: 'insert into applied values ($1::bigint) on conflict do nothing', params: [position.toString()] },
    advanceCheckpointsStatement(expected, position),
  ]);
  const applied = async () => (await sql.query<{ position: bigint }>('select position from applied order by 1')).rows.map((r) => r.position);

  const ok = await batch(new Map([['one', 0n], ['two', 0n]]), 10n);
  t.equal(ok.failure, undefined);
  t.same(checkpointPositions(ok.first, names), new Map([['one', 0n], ['two', 0n]]), 'the locked rows, as they were');
  t.same(await checkpoints(sql), { one: '10', two: '10' }, 'both advanced');
  t.same(await applied(), [10n]);

  // Another instance moved `two` on: the writes themselves succeed, the checkpoint update refuses.
  await sql.query(`update authstream.projection_checkpoints set position = 20 where name = 'two'`);
  const refused = await batch(new Map([['one', 10n], ['two', 10n]]), 30n);
  t.match(refused.failure, { message: new RegExp(CHECKPOINTS_MOVED) }, 'refused by the checkpoint update');
  t.same(checkpointPositions(refused.first, names), new Map([['one', 10n], ['two', 20n]]), 'the locked rows show the move');
  t.same(await checkpoints(sql), { one: '10', two: '20' }, 'no checkpoint moved');
  t.same(await applied(), [10n], 'and the write before the refusal was rolled back with it');
});

void t.test('a batch another instance applied is seen as contended; lock-first applies with no pipelined attempt', async (t) => {
  const { sql } = await createTestDatabase(t);
  await migrateProjections(sql);
  const p = ledgerProjection('ledger', { writesOnly: true });
  await sql.transaction(async (tx) => {
    await tx.query('create schema if not exists authstream');
    await p.setup(tx, (base) => `authstream.${base}`);
    await insertCheckpoint(tx, 'ledger', 1);
  });
  const events = (from: number, to: number): Decoded[] => Array.from({ length: to - from }, (_, i) => ({
    id: `e${from + i + 1}`, streamId: 's', type: 'UserRegistered', revision: BigInt(from + i), position: BigInt(from + i + 1),
    occurredAt: new Date(), recordedAt: new Date(), data: {}, metadata: {},
  }) as unknown as Decoded);
  let pipelined = 0;
  const counting = new Proxy(sql, {
    get: (target, name: keyof typeof sql) => name === 'pipelinedBatch'
      ? (...args: Parameters<typeof sql.pipelinedBatch>) => ((pipelined += 1), target.pipelinedBatch(...args))
      : (typeof target[name] === 'function' ? (target[name] as () => unknown).bind(target) : target[name]),
  });

  const first = await applyLiveBatch(counting, [p], new Map([['ledger', 0n]]), events(0, 3), 0n, 3n);
  t.same([first.contended, pipelined], [false, 1], 'alone: applied in one pipelined batch, not contended');
  // Another instance applies 4-6 while this runner still believes the checkpoint at 3.
  await applyLiveBatch(sql, [p], new Map([['ledger', 3n]]), events(3, 6), 3n, 6n);
  const late = await applyLiveBatch(counting, [p], new Map([['ledger', 3n]]), events(3, 6), 3n, 6n);
  t.equal(late.contended, true, 'found applied by another: contended');
  t.match(late.outcomes.get('ledger'), { position: 6n, rewound: false, byOther: true });
  const before = pipelined;
  const next = await applyLiveBatch(counting, [p], new Map([['ledger', 6n]]), events(6, 9), 6n, 9n, true);
  t.equal(pipelined, before, 'lock-first: no pipelined attempt');
  t.same([next.contended, next.outcomes.get('ledger')?.position], [false, 9n], 'applied by this runner on the locked path');
  t.same(await ledger(sql), ['1', '2', '3', '4', '5', '6', '7', '8', '9'], 'every event exactly once');
});
