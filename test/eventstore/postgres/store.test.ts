import { randomUUID } from 'node:crypto';
import net from 'node:net';
import pg from 'pg';
import t from 'tap';
import { appendInTransaction } from '../../../src/eventstore/postgres/append.js';
import { PostgresEventStore } from '../../../src/eventstore/postgres/store.js';
import {
  isConcurrencyConflict,
  isStoreUnavailable,
  type AppendResult,
  type EventToAppend,
  type RecordedEvent,
} from '../../../src/ports/eventStore.js';
import { PgSql } from '../../../src/infra/sql/pg.js';
import type { SqlExecutor } from '../../../src/ports/sql.js';
import { ADMIN_URL, createTestDatabase, createTestDatabaseUrl, usingServer } from '../../helpers/db.js';
import { eventStoreContract } from '../../helpers/eventStoreContract.js';

const server = await usingServer();
const needsServer = server ? false : 'needs a PostgreSQL server';

eventStoreContract(t, 'PostgresEventStore', async (t) => {
  const { sql } = await createTestDatabase(t);
  const store = await PostgresEventStore.open(sql, { pollIntervalMs: 100 });
  t.teardown(() => store.close());
  return store;
});

void t.test('gap safety: concurrent writers, one tailing subscriber', { skip: needsServer }, async (t) => {
  const { sql } = await createTestDatabase(t, { max: 12 });
  const store = await PostgresEventStore.open(sql, { pollIntervalMs: 100 });
  t.teardown(() => store.close());

  const received: RecordedEvent[] = [];
  const subscription = store.subscribeToAll(
    async (events) => {
      received.push(...events);
    },
    { batchSize: 100 },
  );

  const WRITERS = 8;
  const APPENDS = 150;
  const appends: { ids: string[]; result: AppendResult }[] = [];
  const completionOrder: bigint[] = [];
  const writer = async (w: number): Promise<void> => {
    for (let i = 0; i < APPENDS; i++) {
      const events = Array.from({ length: i % 5 === 0 ? 3 : 1 }, () => event('Written', { w, i }));
      const stream = `writer-${w}-${i % 3}`;
      // Half the writers dawdle inside their transaction so commits finish out of xid order.
      const result =
        w % 2 === 0
          ? await store.appendToStream(stream, events, { expectedRevision: 'any' })
          : await sql.transaction(async (tx) => {
              const r = await appendInTransaction(tx, store.schema, stream, events, 'any');
              await delay(Math.random() * 3);
              return r;
            });
      appends.push({ ids: events.map((e) => e.id), result });
      completionOrder.push(result.position);
    }
  };
  await Promise.all(Array.from({ length: WRITERS }, (_, w) => writer(w)));
  const written = appends.flatMap((a) => a.ids);
  await waitUntil(() => received.length >= written.length, 'every event delivered');
  await delay(300);
  await subscription.stop();

  const outOfOrder = completionOrder.filter((p, i) => i > 0 && p < (completionOrder[i - 1] ?? 0n)).length;
  t.ok(outOfOrder > 0, `commits finished out of position order (${outOfOrder} times), so a gap was possible`);
  t.equal(received.length, written.length, 'no event delivered twice or skipped');
  t.equal(new Set(received.map((e) => e.id)).size, received.length, 'each event once');
  t.same(new Set(received.map((e) => e.id)), new Set(written), 'exactly the written events');
  t.ok(
    received.every((e, i) => i === 0 || e.position > (received[i - 1]?.position ?? 0n)),
    'positions strictly increase',
  );
  const byId = new Map(received.map((e) => [e.id, e]));
  t.ok(
    appends.every((a) => byId.get(a.ids.at(-1) ?? '')?.position === a.result.position),
    'every append result position is its last event position',
  );
  const all = await store.readAll({ maxCount: 10_000 });
  t.same(all.map((e) => e.id), received.map((e) => e.id), 'readAll agrees with the subscription');
});

void t.test('gap safety: an open earlier transaction holds back later commits', { skip: needsServer }, async (t) => {
  const { sql, url } = await createTestDatabase(t);
  const store = await PostgresEventStore.open(sql, { pollIntervalMs: 50 });
  t.teardown(() => store.close());
  const received: RecordedEvent[] = [];
  const subscription = store.subscribeToAll(async (events) => {
    received.push(...events);
  });
  t.teardown(() => subscription.stop());

  const clientA = new pg.Client({ connectionString: url });
  await clientA.connect();
  t.teardown(() => clientA.end());
  const a = event('A');
  const b = event('B');
  await clientA.query('begin');
  const resultA = await appendInTransaction(executor(clientA), store.schema, 'gap-a', [a], 'no_stream');
  const resultB = await store.appendToStream('gap-b', [b], { expectedRevision: 'no_stream' });
  t.ok(resultA.position < resultB.position, 'A began first, so it sorts first');

  await delay(400); // several polls and notify retries
  t.same(received, [], 'the subscriber does not pass the open transaction');
  t.same(await store.readAll({ maxCount: 10 }), [], 'readAll shows nothing past the open transaction');
  t.equal(await store.headPosition(), 0n, 'the head stays before the open transaction');
  t.same((await store.readStream('gap-b')).map((e) => e.id), [b.id], 'readStream still reads its own writes');

  await clientA.query('commit');
  await waitUntil(() => received.length >= 2, 'both events');
  t.same(received.map((e) => e.id), [a.id, b.id], 'A before B');
  t.same((await store.readAll({ maxCount: 10 })).map((e) => e.id), [a.id, b.id]);
  t.equal(await store.headPosition(), resultB.position);
});

void t.test('appends wake this store\'s subscriptions at once and other processes\' by a coalesced NOTIFY', { skip: needsServer }, async (t) => {
  const { sql, url } = await createTestDatabase(t, { max: 12 });
  // Polling an hour apart: only the announcements can deliver anything in this test.
  const hour = 3_600_000;
  const store = await PostgresEventStore.open(sql, { pollIntervalMs: hour });
  t.teardown(() => store.close());
  const otherSql = new PgSql({ connectionString: url ?? '', max: 2 });
  t.teardown(() => otherSql.close());
  const other = await PostgresEventStore.open(otherSql, { pollIntervalMs: hour });
  t.teardown(() => other.close());

  const heard: string[] = [];
  const listener = new pg.Client({ connectionString: url });
  await listener.connect();
  t.teardown(() => listener.end());
  listener.on('notification', (msg) => heard.push(msg.payload ?? ''));
  await listener.query(`LISTEN ${pg.escapeIdentifier(`${store.schema}_events`)}`);

  const here: RecordedEvent[] = [];
  const there: RecordedEvent[] = [];
  const subs = [
    store.subscribeToAll(async (events) => void here.push(...events)),
    other.subscribeToAll(async (events) => void there.push(...events)),
  ];
  t.teardown(() => Promise.all(subs.map((s) => s.stop())));
  await delay(200); // both subscriptions have read the empty store and wait; the other process has LISTENed
  t.equal(here.length + there.length, 0);

  await store.appendToStream('announced-1', [event('One')], { expectedRevision: 'no_stream' });
  await waitUntil(() => here.length === 1 && there.length === 1, 'one event in both processes', 5_000);
  t.pass('the appending store and another process both delivered the event without polling');

  const N = 100;
  await Promise.all(Array.from({ length: N }, (_, i) =>
    store.appendToStream(`announced-burst-${i}`, [event('Burst')], { expectedRevision: 'no_stream' })));
  await waitUntil(() => here.length === N + 1 && there.length === N + 1, 'the burst in both processes', 5_000);
  await delay(100);
  t.ok(heard.length >= 2, `the other processes heard of the appends (${heard.length} notifications)`);
  t.ok(heard.length < N, `${N + 1} appends coalesced into ${heard.length} notifications`);
  t.equal(new Set(heard).size, 1, 'every notification names the store that sent it');

  await other.appendToStream('announced-2', [event('Two')], { expectedRevision: 'no_stream' });
  await waitUntil(() => here.length === N + 2 && there.length === N + 2, 'the other process\'s append here', 5_000);
  t.pass('and the other way round');
});

void t.test('concurrent appends with the same expected revision: exactly one wins', { skip: needsServer }, async (t) => {
  const { sql } = await createTestDatabase(t, { max: 12 });
  const store = await PostgresEventStore.open(sql);
  t.teardown(() => store.close());
  const N = 10;

  const race = (stream: string, expectedRevision: 0n | 'no_stream') =>
    Promise.allSettled(
      Array.from({ length: N }, () => store.appendToStream(stream, [event('Raced')], { expectedRevision })),
    );
  const check = (results: PromiseSettledResult<AppendResult>[], actual: bigint, what: string) => {
    const won = results.filter((r) => r.status === 'fulfilled');
    const lost = results.filter((r): r is PromiseRejectedResult => r.status === 'rejected');
    t.equal(won.length, 1, `${what}: one winner`);
    t.ok(lost.every((r) => isConcurrencyConflict(r.reason)), `${what}: every loser gets a conflict`);
    t.ok(
      lost.every((r) => isConcurrencyConflict(r.reason) && r.reason.actual === actual),
      `${what}: losers learn the actual revision`,
    );
  };

  check(await race('fresh', 'no_stream'), 0n, 'no_stream');
  t.equal((await store.readStream('fresh')).length, 1);
  check(await race('fresh', 0n), 1n, 'exact revision');
  t.same((await store.readStream('fresh')).map((e) => e.revision), [0n, 1n]);
});

void t.test('a revision already present in events surfaces as a conflict', async (t) => {
  const { sql } = await createTestDatabase(t);
  const store = await PostgresEventStore.open(sql);
  t.teardown(() => store.close());
  await store.appendToStream('s', [event('A'), event('B')], { expectedRevision: 'no_stream' });
  // Out-of-band damage: the streams row lags behind events, so the insert hits (stream_id, revision).
  await sql.query(`update eventstore.streams set revision = 0 where stream_id = 's'`);
  const error: unknown = await store.appendToStream('s', [event('C')], { expectedRevision: 0n }).catch((e: unknown) => e);
  t.ok(isConcurrencyConflict(error), 'the unique violation becomes a ConcurrencyConflictError');
  await t.rejects(store.appendToStream('s', [], { expectedRevision: 'any' }), RangeError, 'an empty append is refused');
});

void t.test('close() stops subscriptions; stop() may be called from inside a handler', async (t) => {
  const { sql } = await createTestDatabase(t);
  const store = await PostgresEventStore.open(sql, { pollIntervalMs: 50 });
  await store.appendToStream('s', [event('A'), event('B')], { expectedRevision: 'no_stream' });

  let selfStopped = 0;
  const selfStopping = store.subscribeToAll(
    async () => {
      selfStopped++;
      await selfStopping.stop();
    },
    { batchSize: 1 },
  );
  await t.resolves(selfStopping.done, 'stop() inside the handler does not wait on itself');
  t.equal(selfStopped, 1, 'no batch after the stopping one');

  const running = store.subscribeToAll(async () => {});
  await store.close();
  await t.resolves(running.done, 'close() stopped the subscription');
  const error: unknown = await store.ping().catch((e: unknown) => e);
  t.ok(isStoreUnavailable(error), 'a closed store reports itself unavailable');
  await t.resolves(sql.query('select 1'), 'the Sql stays open: the caller owns it');
});

void t.test('migrations are idempotent and safe to run concurrently', { skip: needsServer }, async (t) => {
  const url = await createTestDatabaseUrl(t);
  if (!url) throw new Error('unreachable: server mode');
  const pools = Array.from({ length: 4 }, () => new PgSql({ connectionString: url, max: 2 }));
  t.teardown(() => Promise.all(pools.map((p) => p.close())));

  const stores = await Promise.all(pools.map((sql) => PostgresEventStore.open(sql)));
  const again = await PostgresEventStore.open(pools[0] as PgSql);
  const custom = await PostgresEventStore.open(pools[0] as PgSql, { schema: 'es_custom' });
  t.equal(stores.length, 4, 'concurrent opens all succeed');

  const admin = pools[0] as PgSql;
  const { rows } = await admin.query<{ schema: string; versions: unknown }>(
    `select 'eventstore' as schema, count(*) as versions from eventstore.schema_migrations
     union all select 'es_custom', count(*) from es_custom.schema_migrations`,
  );
  t.same(
    rows.map((r) => [r.schema, BigInt(String(r.versions))]),
    [['eventstore', 1n], ['es_custom', 1n]],
    'each migration recorded once per schema',
  );

  await again.appendToStream('s', [event('X')], { expectedRevision: 'no_stream' });
  t.equal((await custom.readStream('s')).length, 0, 'schemas are independent');
  await custom.appendToStream('s', [event('X')], { expectedRevision: 'no_stream' });
  t.equal((await stores[3]?.readStream('s'))?.length, 1);
  await t.rejects(PostgresEventStore.open(admin, { schema: 'bad"name' }), RangeError, 'schema names are validated');
});

void t.test('a store that cannot be reached rejects with StoreUnavailableError', async (t) => {
  const sql = new PgSql({ connectionString: 'postgres://postgres@127.0.0.1:1/postgres', connectionTimeoutMillis: 1000 });
  t.teardown(() => sql.close());
  const error: unknown = await PostgresEventStore.open(sql).catch((e: unknown) => e);
  t.ok(isStoreUnavailable(error), 'open() rejects with StoreUnavailableError');
});

void t.test('an outage: calls reject as unavailable, a subscription survives and resumes', { skip: needsServer }, async (t) => {
  const url = await createTestDatabaseUrl(t);
  if (!url) throw new Error('unreachable: server mode');
  const proxy = await TcpProxy.start(new URL(url));
  t.teardown(() => proxy.stop());
  const sql = new PgSql({ connectionString: proxy.url, connectionTimeoutMillis: 1000 });
  const direct = new PgSql({ connectionString: url });
  t.teardown(() => Promise.all([sql.close(), direct.close()]));
  const store = await PostgresEventStore.open(sql, { pollIntervalMs: 50 });
  const otherWriter = await PostgresEventStore.open(direct);
  t.teardown(() => store.close());

  const received: RecordedEvent[] = [];
  const subscription = store.subscribeToAll(async (events) => {
    received.push(...events);
  });
  let settled = false;
  void subscription.done.finally(() => (settled = true));

  const before = event('BeforeOutage');
  await store.appendToStream('s', [before], { expectedRevision: 'no_stream' });
  await waitUntil(() => received.length === 1, 'the first event');

  await proxy.down();
  // Let the pool notice its dead idle connections first: PgSql.transaction() on a pooled
  // client that dies while checked out crashes the process today (see the next test).
  await waitUntil(() => sql.pool.idleCount === 0, 'the pool to drop its dead connections');
  const calls: [string, () => Promise<unknown>][] = [
    ['appendToStream', () => store.appendToStream('s', [event('Lost')], { expectedRevision: 0n })],
    ['readStream', () => store.readStream('s')],
    ['readAll', () => store.readAll({ maxCount: 10 })],
    ['headPosition', () => store.headPosition()],
    ['ping', () => store.ping()],
  ];
  for (const [name, call] of calls) {
    const error: unknown = await call().then(
      () => undefined,
      (e: unknown) => e,
    );
    t.ok(isStoreUnavailable(error), `${name} rejects with StoreUnavailableError`);
  }
  const during = event('DuringOutage');
  await otherWriter.appendToStream('s', [during], { expectedRevision: 0n });
  await delay(500);
  t.notOk(settled, 'the subscription is still running during the outage');

  await proxy.up();
  await waitUntil(() => received.length === 2, 'the event written during the outage');
  const after = event('AfterOutage');
  await eventuallyAvailable(() => store.appendToStream('s', [after], { expectedRevision: 1n }));
  await waitUntil(() => received.length === 3, 'an event written after the outage');
  t.same(received.map((e) => e.id), [before.id, during.id, after.id], 'nothing lost or repeated');
  await t.resolves(store.ping());
  t.notOk(settled);
  await subscription.stop();
  t.ok(settled, 'stop() ends it');
});

void t.test('an append whose connection drops while it waits on the stream lock rejects as unavailable and writes nothing', { skip: needsServer }, async (t) => {
  const url = await createTestDatabaseUrl(t);
  if (!url) throw new Error('unreachable: server mode');
  const proxy = await TcpProxy.start(new URL(url));
  t.teardown(() => proxy.stop());
  const sql = new PgSql({ connectionString: proxy.url, connectionTimeoutMillis: 1000, connectionCheckIntervalMillis: 100 });
  // Workaround until PgSql does this itself: a pg client that loses its connection while
  // checked out by PgSql.transaction() emits 'error' with no listener, crashing the process.
  sql.pool.on('connect', (client) => client.on('error', () => {}));
  const direct = new pg.Client({ connectionString: url });
  await direct.connect();
  t.teardown(() => Promise.all([sql.close(), direct.end()]));
  const store = await PostgresEventStore.open(sql);
  t.teardown(() => store.close());
  await store.appendToStream('s', [event('First')], { expectedRevision: 'no_stream' });

  // Hold the stream's row lock so the append waits inside its transaction.
  await direct.query('begin');
  await direct.query(`select * from eventstore.streams where stream_id = 's' for update`);
  const append = store.appendToStream('s', [event('Dropped')], { expectedRevision: 0n }).then(
    () => undefined,
    (e: unknown) => e,
  );
  const version = Number((await direct.query<{ v: string }>(`select current_setting('server_version_num') as v`)).rows[0]?.v);
  if (version < 140000) {
    await t.skip(`client_connection_check_interval needs PostgreSQL 14+ (server ${version})`, async () => {});
    await direct.query('rollback');
    return;
  }
  await delay(200);
  const waiting = async () => (await direct.query<{ n: number }>(
    `select count(*)::int as n from pg_stat_activity where datname = current_database() and wait_event_type = 'Lock'`)).rows[0]?.n;
  t.equal(await waiting(), 1, 'the append waits on the row lock');
  await proxy.down();
  t.ok(isStoreUnavailable(await append), 'the append rejects with StoreUnavailableError');
  // The statement is autocommitted: its backend must notice the client has gone
  // (client_connection_check_interval) and give up before the lock frees.
  await waitUntil(async () => (await waiting()) === 0, 'the orphaned append stops waiting');
  await direct.query('rollback');
  await delay(100);
  t.same((await direct.query(`select count(*)::int as n from eventstore.events`)).rows, [{ n: 1 }], 'nothing written');
  t.same((await direct.query(`select revision::int from eventstore.streams where stream_id = 's'`)).rows, [{ revision: 0 }], 'the stream did not move');
});

void t.test('a subscription survives its connections being terminated', { skip: needsServer }, async (t) => {
  const { sql, url } = await createTestDatabase(t);
  if (!url) throw new Error('unreachable: server mode');
  // A poll interval this long means delivery below relies on NOTIFY, so LISTEN must come back too.
  const store = await PostgresEventStore.open(sql, { pollIntervalMs: 60_000 });
  t.teardown(() => store.close());
  const received: RecordedEvent[] = [];
  const subscription = store.subscribeToAll(async (events) => {
    received.push(...events);
  });
  t.teardown(() => subscription.stop());
  await delay(100); // let the subscription LISTEN

  await store.appendToStream('s', [event('One')], { expectedRevision: 'no_stream' });
  await waitUntil(() => received.length === 1, 'the first event');

  const admin = new pg.Client({ connectionString: ADMIN_URL });
  await admin.connect();
  t.teardown(() => admin.end());
  const database = new URL(url).pathname.slice(1);
  const { rowCount } = await admin.query(
    'select pg_terminate_backend(pid) from pg_stat_activity where datname = $1 and pid <> pg_backend_pid()',
    [database],
  );
  t.ok((rowCount ?? 0) >= 2, 'terminated the pool and the listener connections');

  await delay(300);
  await eventuallyAvailable(() => store.appendToStream('s', [event('Two')], { expectedRevision: 0n }));
  await waitUntil(() => received.length === 2, 'an event after the termination');
  t.same(received.map((e) => e.revision), [0n, 1n]);
});

// ---------------------------------------------------------------------------------------
// Helpers

function event(type: string, data: Record<string, number> = {}): EventToAppend {
  return { id: randomUUID(), type, data, metadata: {}, occurredAt: new Date() };
}

function delay(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

async function waitUntil(condition: () => boolean | Promise<boolean>, what: string, timeoutMs = 15_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await condition())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await delay(10);
  }
}

/** Retries a call while it reports the store unavailable, as a caller after an outage would. */
async function eventuallyAvailable<T>(call: () => Promise<T>): Promise<T> {
  for (let attempt = 0; ; attempt++) {
    try {
      return await call();
    } catch (error) {
      if (!isStoreUnavailable(error) || attempt > 50) throw error;
      await delay(100);
    }
  }
}

/** A SqlExecutor over a raw client, to hold an append's transaction open. */
function executor(client: pg.Client): SqlExecutor {
  return {
    async query<R>(text: string, params?: readonly unknown[]) {
      const r = await client.query(text, params as unknown[] | undefined);
      return { rows: r.rows as R[], rowCount: r.rowCount ?? 0 };
    },
  };
}

/** A TCP proxy in front of the database that can be taken down and brought back on the same port. */
class TcpProxy {
  readonly url: string;
  readonly #target: { host: string; port: number };
  readonly #port: number;
  readonly #sockets = new Set<net.Socket>();
  #server: net.Server | undefined;

  private constructor(target: URL, port: number) {
    this.#target = { host: target.hostname, port: Number(target.port || 5432) };
    this.#port = port;
    const proxied = new URL(target);
    proxied.hostname = '127.0.0.1';
    proxied.port = String(port);
    this.url = proxied.toString();
  }

  static async start(target: URL): Promise<TcpProxy> {
    const probe = net.createServer();
    await new Promise<void>((resolve) => probe.listen(0, '127.0.0.1', resolve));
    const address = probe.address();
    await new Promise((resolve) => probe.close(resolve));
    if (address === null || typeof address === 'string') throw new Error('no port');
    const proxy = new TcpProxy(target, address.port);
    await proxy.up();
    return proxy;
  }

  async up(): Promise<void> {
    const server = net.createServer((client) => {
      const upstream = net.connect(this.#target.port, this.#target.host);
      for (const socket of [client, upstream]) {
        this.#sockets.add(socket);
        socket.on('error', () => {});
        socket.on('close', () => {
          this.#sockets.delete(socket);
          client.destroy();
          upstream.destroy();
        });
      }
      client.pipe(upstream).pipe(client);
    });
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(this.#port, '127.0.0.1', resolve);
    });
    this.#server = server;
  }

  async down(): Promise<void> {
    const server = this.#server;
    this.#server = undefined;
    for (const socket of this.#sockets) socket.destroy();
    if (server) await new Promise((resolve) => server.close(resolve));
  }

  stop(): Promise<void> {
    return this.down();
  }
}
