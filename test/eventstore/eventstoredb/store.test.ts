/**
 * The EventStoreDB adapter against a real server: the shared event-store contract suite,
 * run only when EVENTSTORE_URL points at one, e.g.
 *
 *     EVENTSTORE_URL='esdb://localhost:2113?tls=false' npx tap test/eventstore/eventstoredb.test.ts
 *
 * Without EVENTSTORE_URL the suite is reported as SKIPPED with the reason, never as passed.
 * The connection-failure test below needs no server (it connects to a port where nothing
 * listens) and always runs.
 */
import { randomUUID } from 'node:crypto';
import { createServer } from 'node:net';
import { EventStoreDBClient } from '@eventstore/db-client';
import t from 'tap';
import { EventStoreDbEventStore } from '../../../src/eventstore/eventstoredb/store.js';
import { StoreUnavailableError } from '../../../src/ports/eventStore.js';
import { eventStoreContract } from '../../helpers/eventStoreContract.js';

const EVENTSTORE_URL = process.env.EVENTSTORE_URL;

/** A local TCP port nobody listens on (bound, then released). */
async function unusedPort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address();
  await new Promise<void>((resolve) => server.close(() => resolve()));
  if (address === null || typeof address === 'string') throw new Error('no TCP address');
  return address.port;
}

t.test('connect: an unreachable server is a StoreUnavailableError naming EVENTSTORE_URL', async (t) => {
  const port = await unusedPort();
  const started = Date.now();
  const error: unknown = await EventStoreDbEventStore.connect(`esdb://admin:secret@127.0.0.1:${port}?tls=false`, {
    timeoutMs: 3000,
  }).then(
    async (store) => {
      await store.close();
      return undefined;
    },
    (e: unknown) => e,
  );
  t.ok(error instanceof StoreUnavailableError, 'StoreUnavailableError');
  const message = error instanceof Error ? error.message : '';
  t.comment(message);
  t.match(message, /EVENTSTORE_URL/, 'the message names EVENTSTORE_URL');
  t.notMatch(message, /secret/, 'the password is not in the message');
  t.notMatch(message, /\n/, 'one line');
  t.ok(Date.now() - started < 3000 + 2000, 'gives up within the timeout');
});

t.test('connect: a peer that accepts TCP but never answers times out as StoreUnavailableError', async (t) => {
  // A bare socket that never speaks HTTP/2: it exercises the connect timeout only.
  const silent = createServer(() => {});
  await new Promise<void>((resolve) => silent.listen(0, '127.0.0.1', resolve));
  t.teardown(() => new Promise<void>((resolve) => silent.close(() => resolve())));
  silent.on('connection', (socket) => t.teardown(() => socket.destroy()));
  const address = silent.address();
  if (address === null || typeof address === 'string') throw new Error('no TCP address');
  const started = Date.now();
  const error: unknown = await EventStoreDbEventStore.connect(`esdb://127.0.0.1:${address.port}?tls=false`, {
    timeoutMs: 1000,
  }).then(
    async (store) => {
      await store.close();
      return undefined;
    },
    (e: unknown) => e,
  );
  t.ok(error instanceof StoreUnavailableError, 'StoreUnavailableError');
  t.match(error instanceof Error ? error.message : '', /EVENTSTORE_URL.*timed out after 1000 ms/);
  const elapsed = Date.now() - started;
  t.ok(elapsed >= 900 && elapsed < 3000, `gave up after the timeout (${elapsed} ms)`);
});

t.test('connect: an invalid connection string names EVENTSTORE_URL', async (t) => {
  await t.rejects(EventStoreDbEventStore.connect('http://not-an-esdb-url'), /EVENTSTORE_URL/);
});

if (EVENTSTORE_URL) {
  const url = EVENTSTORE_URL;
  eventStoreContract(t, 'eventstoredb', async (t) => {
    const store = await EventStoreDbEventStore.connect(url);
    t.teardown(() => store.close());
    return store;
  });
} else {
  t.test(
    'EventStoreDB contract suite',
    { skip: 'EVENTSTORE_URL not set — no EventStoreDB server on this machine; the suite did not run' },
    async () => {},
  );
}

t.test('an unreachable server: operations fail as StoreUnavailableError, subscriptions keep retrying', async (t) => {
  const port = await unusedPort();
  const store = EventStoreDbEventStore.fromClient(
    EventStoreDBClient.connectionString(`esdb://127.0.0.1:${port}?tls=false`),
  );
  t.teardown(() => store.close());
  const event = { id: randomUUID(), type: 'Probe', data: {}, metadata: {}, occurredAt: new Date() };

  await t.rejects(store.ping(), StoreUnavailableError, 'ping');
  await t.rejects(store.appendToStream('s-1', [event], { expectedRevision: 'any' }), StoreUnavailableError, 'append');
  await t.rejects(store.readStream('s-1'), StoreUnavailableError, 'readStream');
  await t.rejects(store.readAll({ maxCount: 10 }), StoreUnavailableError, 'readAll');
  await t.rejects(store.headPosition(), StoreUnavailableError, 'headPosition');

  let delivered = 0;
  const subscription = store.subscribeToAll(async (events) => {
    delivered += events.length;
  });
  let settled = false;
  subscription.done.then(
    () => (settled = true),
    () => (settled = true),
  );
  await new Promise((resolve) => setTimeout(resolve, 1000));
  t.notOk(settled, 'the subscription is still retrying after 1 s of outage');
  t.equal(delivered, 0);
  await subscription.stop();
  await t.resolves(subscription.done, 'stop() ends it and done resolves');

  await store.close();
  await t.rejects(store.readStream('s-1'), StoreUnavailableError, 'closed');
});
