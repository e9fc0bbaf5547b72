/**
 * The event-store contract: one suite, written against the port only, run against every
 * adapter (PostgreSQL, PGlite, EventStoreDB).
 *
 * It must also pass on a shared store that is not empty and has other writers: every test
 * uses its own randomly named streams and event types, filters what it reads down to its
 * own events, and compares positions with positions it recorded, never with absolute values.
 * Global reads poll until the test's own events are visible, because an adapter may show
 * a commit to global readers a little later than to its writer (PostgreSQL does while an
 * older transaction in the cluster is still open).
 */
import { randomBytes, randomUUID } from 'node:crypto';
import type { Test } from 'tap';
import {
  isConcurrencyConflict,
  type AppendResult,
  type EventStore,
  type EventToAppend,
  type ExpectedRevision,
  type JsonObject,
  type ReadAllOptions,
  type RecordedEvent,
  type SubscribeOptions,
  type Subscription,
} from '../../src/ports/eventStore.js';

export type OpenEventStore = (t: Test) => Promise<EventStore>;

const VISIBLE_WITHIN_MS = 10_000;
/** How long "nothing more arrives" is watched for. */
const QUIET_MS = 400;

export function eventStoreContract(t: Test, name: string, open: OpenEventStore): void {
  void t.test(`event-store contract: ${name}`, async (t) => {
    void t.test('no_stream creates a stream and conflicts once it exists', async (t) => {
      const store = await open(t);
      const stream = streamName('nostream');
      const first = await store.appendToStream(stream, [event('Created'), event('Renamed')], {
        expectedRevision: 'no_stream',
      });
      t.equal(first.nextExpectedRevision, 1n);
      await expectConflict(t, store, stream, 'no_stream', [1n, 'unknown']);
      t.same(await revisions(store, stream), [0n, 1n], 'the conflicting append wrote nothing');
    });

    void t.test('stream_exists conflicts on a missing stream and appends to an existing one', async (t) => {
      const store = await open(t);
      const stream = streamName('exists');
      await expectConflict(t, store, stream, 'stream_exists', ['no_stream', 'unknown']);
      t.same(await store.readStream(stream), [], 'the conflicting append created nothing');
      await store.appendToStream(stream, [event('Created')], { expectedRevision: 'no_stream' });
      const result = await store.appendToStream(stream, [event('Renamed'), event('Renamed')], {
        expectedRevision: 'stream_exists',
      });
      t.equal(result.nextExpectedRevision, 2n);
      t.same(await revisions(store, stream), [0n, 1n, 2n]);
    });

    void t.test('any appends whether or not the stream exists', async (t) => {
      const store = await open(t);
      const stream = streamName('any');
      const created = await store.appendToStream(stream, [event('Created')], { expectedRevision: 'any' });
      t.equal(created.nextExpectedRevision, 0n);
      const appended = await store.appendToStream(stream, [event('Renamed'), event('Renamed')], {
        expectedRevision: 'any',
      });
      t.equal(appended.nextExpectedRevision, 2n);
      t.same(await revisions(store, stream), [0n, 1n, 2n]);
    });

    void t.test('an exact revision appends only when it is the last revision', async (t) => {
      const store = await open(t);
      const stream = streamName('exact');
      await expectConflict(t, store, stream, 0n, ['no_stream', 'unknown']);
      const created = await store.appendToStream(stream, [event('Created')], { expectedRevision: 'no_stream' });
      const next = await store.appendToStream(stream, [event('Renamed')], {
        expectedRevision: created.nextExpectedRevision,
      });
      t.equal(next.nextExpectedRevision, 1n);
      await expectConflict(t, store, stream, 0n, [1n, 'unknown']);
      await expectConflict(t, store, stream, 5n, [1n, 'unknown']);
      const last = await store.appendToStream(stream, [event('Renamed')], { expectedRevision: 1n });
      t.equal(last.nextExpectedRevision, 2n);
      t.same(await revisions(store, stream), [0n, 1n, 2n], 'conflicting appends wrote nothing');
    });

    void t.test('unchanged: the append also requires other streams to be where they were read', async (t) => {
      const store = await open(t);
      const stream = streamName('guarded');
      const other = streamName('guard');
      await store.appendToStream(other, [event('Created'), event('Renamed')], { expectedRevision: 'no_stream' });
      const unchanged = [{ streamId: other, revision: 1n }];

      const created = await store.appendToStream(stream, [event('Created')], { expectedRevision: 'no_stream', unchanged });
      t.equal(created.nextExpectedRevision, 0n, 'no_stream with the other stream unchanged appends');
      for (const expectedRevision of [0n, 'any', 'stream_exists'] as const) {
        const appended = await store.appendToStream(stream, [event('Renamed')], { expectedRevision, unchanged });
        t.ok(appended.position > created.position, `${String(expectedRevision)} with the other stream unchanged appends`);
      }
      const before = await revisions(store, stream);
      t.same(before, [0n, 1n, 2n, 3n]);

      await store.appendToStream(other, [event('Moved')], { expectedRevision: 1n });
      for (const expectedRevision of [3n, 'any', 'stream_exists'] as const) {
        const error: unknown = await store.appendToStream(stream, [event('Guarded')], { expectedRevision, unchanged })
          .then(() => undefined, (e: unknown) => e);
        t.ok(isConcurrencyConflict(error), `${String(expectedRevision)}: refused once the other stream moved`);
        if (isConcurrencyConflict(error)) {
          t.equal(error.streamId, other, 'the conflict names the stream that moved');
          t.equal(error.expected, 1n);
          t.ok(error.actual === 2n || error.actual === 'unknown', `actual ${String(error.actual)}`);
        }
      }
      const fresh = streamName('guarded-fresh');
      const refused: unknown = await store.appendToStream(fresh, [event('Created')], { expectedRevision: 'no_stream', unchanged })
        .then(() => undefined, (e: unknown) => e);
      t.ok(isConcurrencyConflict(refused), 'no_stream: refused too');
      const missing = streamName('guard-missing');
      const none: unknown = await store.appendToStream(stream, [event('Guarded')], {
        expectedRevision: 3n, unchanged: [{ streamId: missing, revision: 0n }],
      }).then(() => undefined, (e: unknown) => e);
      t.ok(isConcurrencyConflict(none) && none.streamId === missing && (none.actual === 'no_stream' || none.actual === 'unknown'),
        'a stream that does not exist is not at any revision');
      t.same(await revisions(store, stream), before, 'the refused appends wrote nothing');
      t.same(await store.readStream(fresh), [], 'and created nothing');
      await expectConflict(t, store, stream, 2n, [3n, 'unknown']);
      const last = await store.appendToStream(stream, [event('Guarded')], {
        expectedRevision: 3n, unchanged: [{ streamId: other, revision: 2n }],
      });
      t.equal(last.nextExpectedRevision, 4n, 'with the other stream\'s new revision it appends');
    });

    void t.test('appendToStreams: several streams in order, all or none where the store has transactions', async (t) => {
      const store = await open(t);
      const [a, b, c] = [streamName('multi-a'), streamName('multi-b'), streamName('multi-c')];
      await store.appendToStream(b, [event('Created')], { expectedRevision: 'no_stream' });
      const results = await store.appendToStreams([
        { streamId: a, events: [event('Created'), event('Renamed')], expectedRevision: 'no_stream' },
        { streamId: b, events: [event('Renamed')], expectedRevision: 0n },
      ]);
      t.strictSame(results.map((r) => r.nextExpectedRevision), [1n, 1n]);
      t.ok((results[1]?.position ?? 0n) > (results[0]?.position ?? 0n), 'positions follow the order of the parts');
      const all = await readOwn(store, { maxCount: 10_000 }, [a, b], 4);
      t.strictSame(all.map((e) => e.streamId), [b, a, a, b], 'in global order, each part after the one before it');
      t.equal(new Set(all.map((e) => e.position)).size, 4, 'every position distinct');

      const conflict = await store.appendToStreams([
        { streamId: c, events: [event('Created')], expectedRevision: 'no_stream' },
        { streamId: b, events: [event('Renamed')], expectedRevision: 0n }, // b is at 1 now
      ]).then(() => null, (e: unknown) => e);
      t.ok(isConcurrencyConflict(conflict), 'a stream that moved is a conflict');
      t.match(conflict, { streamId: b });
      if (store.kind === 'eventstoredb') {
        t.same(await revisions(store, c), [0n], 'EventStoreDB: the parts before the conflict stay (no cross-stream transaction)');
      } else {
        t.same(await revisions(store, c), [], 'nothing of the batch was appended');
      }
      t.same(await revisions(store, b), [0n, 1n]);
      await t.rejects(store.appendToStreams([
        { streamId: a, events: [event('Renamed')], expectedRevision: 'any' },
        { streamId: a, events: [event('Renamed')], expectedRevision: 'any' },
      ]), /twice/, 'a stream appears once');
    });

    void t.test('readStream forwards, backwards, fromRevision and maxCount', async (t) => {
      const store = await open(t);
      const stream = streamName('read');
      const written = [event('A'), event('B'), event('C'), event('D'), event('E')];
      await store.appendToStream(stream, written.slice(0, 2), { expectedRevision: 'no_stream' });
      await store.appendToStream(stream, written.slice(2), { expectedRevision: 1n });
      const ids = written.map((e) => e.id);

      const all = await store.readStream(stream);
      t.same(all.map((e) => e.id), ids, 'forwards by default, in append order');
      t.same(all.map((e) => e.revision), [0n, 1n, 2n, 3n, 4n]);
      t.ok(all.every((e) => e.streamId === stream));
      t.same(idsOf(await store.readStream(stream, { fromRevision: 2n })), ids.slice(2), 'fromRevision is inclusive');
      t.same(idsOf(await store.readStream(stream, { maxCount: 2 })), ids.slice(0, 2));
      t.same(idsOf(await store.readStream(stream, { fromRevision: 1n, maxCount: 3 })), ids.slice(1, 4));
      t.same(idsOf(await store.readStream(stream, { direction: 'backwards' })), [...ids].reverse());
      t.same(
        (await store.readStream(stream, { direction: 'backwards', fromRevision: 2n, maxCount: 2 })).map(
          (e) => e.revision,
        ),
        [2n, 1n],
      );
      t.same(
        idsOf(await store.readStream(stream, { direction: 'backwards', maxCount: 1 })),
        [ids[4]],
        'backwards without fromRevision starts at the end',
      );
      t.same(await store.readStream(stream, { fromRevision: 5n }), [], 'past the end');
      t.same(await store.readStream(streamName('missing')), [], 'a missing stream reads as []');
      t.same(await store.readStream(streamName('missing'), { direction: 'backwards' }), []);
    });

    void t.test('readStreams: several streams, each from its revision, in request order', async (t) => {
      const store = await open(t);
      const a = streamName('multi-a');
      const b = streamName('multi-b');
      const aEvents = [event('A0'), event('A1'), event('A2')];
      const bEvents = [event('B0'), event('B1')];
      await store.appendToStream(a, aEvents, { expectedRevision: 'no_stream' });
      await store.appendToStream(b, bEvents, { expectedRevision: 'no_stream' });
      const ids = (es: readonly EventToAppend[]) => es.map((e) => e.id);

      const [fromA, fromB, missing, past] = await store.readStreams([
        { streamId: b, fromRevision: 1n }, { streamId: a }, { streamId: streamName('multi-missing') }, { streamId: a, fromRevision: 3n },
      ]);
      t.same(idsOf(fromA ?? []), ids(bEvents).slice(1), 'the first request: b from revision 1');
      t.same(idsOf(fromB ?? []), ids(aEvents), 'the second: a whole, in revision order');
      t.same((fromB ?? []).map((e) => e.revision), [0n, 1n, 2n]);
      t.ok((fromB ?? []).every((e) => e.streamId === a));
      t.same(missing, [], 'a missing stream reads as []');
      t.same(past, [], 'past the end');
      t.same(await store.readStreams([]), []);
      t.same(
        (await store.readStreams([{ streamId: a, fromRevision: 1n }, { streamId: a, fromRevision: 2n }])).map(idsOf),
        [ids(aEvents).slice(1), ids(aEvents).slice(2)],
        'the same stream twice: each request answered on its own',
      );
    });

    void t.test('readStreams: `latest` keeps only the newest events asked for, oldest first', async (t) => {
      const store = await open(t);
      const a = streamName('latest-a');
      const b = streamName('latest-b');
      const aEvents = [event('A0'), event('A1'), event('A2'), event('A3'), event('A4')];
      await store.appendToStream(a, aEvents, { expectedRevision: 'no_stream' });
      await store.appendToStream(b, [event('B0')], { expectedRevision: 'no_stream' });
      const ids = aEvents.map((e) => e.id);

      const [newest, whole, fromThree, none, missing] = await store.readStreams([
        { streamId: a, latest: 2 },
        { streamId: b, latest: 10 },
        { streamId: a, fromRevision: 3n, latest: 4 },
        { streamId: a, latest: 0 },
        { streamId: streamName('latest-missing'), latest: 3 },
      ]);
      t.same(idsOf(newest ?? []), ids.slice(3), 'the two newest, in revision order');
      t.same((newest ?? []).map((e) => e.revision), [3n, 4n]);
      t.equal(whole?.length, 1, 'fewer events than `latest`: all of them');
      t.same(idsOf(fromThree ?? []), ids.slice(3), 'fromRevision still bounds it from below');
      t.same(none, [], 'latest 0 reads nothing');
      t.same(missing, []);
      await t.rejects(store.readStreams([{ streamId: a, latest: -1 }]), RangeError);
    });

    void t.test('readStreams: `maxCount` keeps only the oldest events asked for; a stream\'s head and tail in one read', async (t) => {
      const store = await open(t);
      const a = streamName('max-a');
      const aEvents = [event('A0'), event('A1'), event('A2'), event('A3'), event('A4')];
      await store.appendToStream(a, aEvents, { expectedRevision: 'no_stream' });
      const ids = aEvents.map((e) => e.id);

      const [first, middle, all, none, head, tail] = await store.readStreams([
        { streamId: a, maxCount: 1 },
        { streamId: a, fromRevision: 2n, maxCount: 2 },
        { streamId: a, maxCount: 50 },
        { streamId: a, maxCount: 0 },
        { streamId: a, maxCount: 1 }, { streamId: a, fromRevision: 1n, latest: 2 },
      ]);
      t.same(idsOf(first ?? []), ids.slice(0, 1), 'the first event only');
      t.same((middle ?? []).map((e) => e.revision), [2n, 3n], 'from a revision, the next two');
      t.same(idsOf(all ?? []), ids, 'fewer events than maxCount: all of them');
      t.same(none, [], 'maxCount 0 reads nothing');
      t.same([...(head ?? []), ...(tail ?? [])].map((e) => e.revision), [0n, 3n, 4n], 'the first and the two newest, as a bounded load reads them');
      await t.rejects(store.readStreams([{ streamId: a, maxCount: -1 }]), RangeError);
      await t.rejects(store.readStreams([{ streamId: a, maxCount: 1, latest: 1 }]), RangeError, 'both counts at once are refused');
    });

    void t.test('events round-trip exactly: ids, type, data, metadata, occurredAt', async (t) => {
      const store = await open(t);
      const start = await store.headPosition();
      const stream = streamName('round-trip-ünïcødé');
      const written: EventToAppend[] = [
        {
          id: randomUUID(),
          type: uniqueType('Ünïcødé'),
          data: {
            text: 'żółć 😀 日本語 — "quoted" \\ back\\slash \n newline \t tab \u2028 sep',
            emoji: '👩‍👩‍👧‍👦',
            nested: { list: [1, -2.5, 1e21, 0.1, true, false, null, 'x', [[]], {}], deeper: { a: { b: { c: [] } } } },
            empty: {},
            emptyList: [],
            nothing: null,
            int: 9007199254740991,
            'key with spaces / and ünïcode': 'ok',
          },
          metadata: { correlationId: randomUUID(), actor: { id: 'user-1', roles: ['admin', 'ops'] }, note: 'ça va' },
          occurredAt: new Date('2024-02-29T23:59:59.123Z'),
        },
        {
          id: randomUUID(),
          type: uniqueType('Plain'),
          data: {},
          metadata: {},
          occurredAt: new Date(Date.UTC(1999, 11, 31, 23, 59, 59, 999)),
        },
      ];
      const result = await store.appendToStream(stream, written, { expectedRevision: 'no_stream' });

      const fromStream = await store.readStream(stream);
      assertSameEvents(t, fromStream, written, 'readStream');
      t.ok(fromStream.every((e) => e.streamId === stream), 'streamId round-trips');

      const fromAll = await readOwn(store, { after: start, maxCount: 100 }, [stream], written.length);
      assertSameEvents(t, fromAll, written, 'readAll');
      t.equal(fromAll.at(-1)?.position, result.position, 'the append result carries the last position');

      const delivered = await collect(t, store, { after: start }, [stream], written.length);
      assertSameEvents(t, delivered.events, written, 'subscribeToAll');
      await delivered.subscription.stop();
    });

    void t.test('recordedAt: when the store wrote the event, by its clock, also in the append result', async (t) => {
      const store = await open(t);
      const stream = streamName('recorded');
      const before = Date.now();
      const result = await store.appendToStream(stream, [event('Stamped'), event('Stamped')], { expectedRevision: 'no_stream' });
      const after = Date.now();
      const read = await store.readStream(stream);
      const SKEW_MS = 5_000; // the store's clock may be another machine's
      for (const e of [...read.map((r) => r.recordedAt), result.recordedAt]) {
        t.ok(e instanceof Date && !Number.isNaN(e.getTime()), 'a Date');
        t.ok(e.getTime() >= before - SKEW_MS && e.getTime() <= after + SKEW_MS, `near the append (${e.toISOString()})`);
      }
      t.equal(read[0]?.recordedAt.getTime(), read[1]?.recordedAt.getTime(), 'one append, one time');
    });

    void t.test('global positions are bigint and strictly increasing in append order', async (t) => {
      const store = await open(t);
      const start = await store.headPosition();
      t.type(start, 'bigint');
      const a = streamName('pos-a');
      const b = streamName('pos-b');
      const results: AppendResult[] = [];
      const expected: string[] = [];
      for (const [stream, count] of [[a, 2], [b, 1], [a, 3], [b, 2]] as const) {
        const events = Array.from({ length: count }, () => event('Positioned'));
        expected.push(...events.map((e) => e.id));
        results.push(await store.appendToStream(stream, events, { expectedRevision: 'any' }));
      }
      const read = await readOwn(store, { after: start, maxCount: 1000 }, [a, b], expected.length);
      t.same(idsOf(read), expected, 'global order is append order');
      t.ok(read.every((e) => typeof e.position === 'bigint' && typeof e.revision === 'bigint'));
      t.ok(read.every((e) => e.position > start), 'every new position is after the earlier head');
      assertIncreasing(t, read);
      const lastPositions = results.map((r) => r.position);
      t.same(
        lastPositions,
        [read[1], read[2], read[5], read[7]].map((e) => e?.position),
        'each append result carries the position of its last event',
      );
    });

    void t.test('readAll pages with an exclusive `after` and filters by type', async (t) => {
      const store = await open(t);
      const start = await store.headPosition();
      const stream = streamName('paging');
      const typeA = uniqueType('PageA');
      const typeB = uniqueType('PageB');
      const written = [typeA, typeB, typeA, typeA, typeB, typeA, typeB].map((type) => event(type));
      await store.appendToStream(stream, written.slice(0, 4), { expectedRevision: 'no_stream' });
      await store.appendToStream(stream, written.slice(4), { expectedRevision: 3n });
      const all = await readOwn(store, { after: start, maxCount: 1000 }, [stream], written.length);
      t.same(idsOf(all), idsOf(written));

      const paged: RecordedEvent[] = [];
      let after = start;
      for (let pages = 0; paged.length < written.length && pages < 10_000; pages++) {
        const page = await store.readAll({ after, maxCount: 2 });
        if (page.length === 0) break;
        t.ok(page.length <= 2, 'a page holds at most maxCount events');
        t.ok(page.every((e) => e.position > after), '`after` is exclusive');
        after = page.at(-1)?.position ?? after;
        paged.push(...page.filter((e) => e.streamId === stream));
      }
      t.same(idsOf(paged), idsOf(written), 'paging returns every event once, in order');

      const third = all[2];
      if (!third) throw new Error('unreachable');
      const afterThird = await store.readAll({ after: third.position, maxCount: 1000 });
      t.same(idsOf(own(afterThird, [stream])), idsOf(written.slice(3)), 'starts strictly after the given position');

      const onlyA = await store.readAll({ after: start, maxCount: 1000, types: [typeA] });
      t.same(idsOf(onlyA), idsOf(written.filter((e) => e.type === typeA)), 'types filter');
      const both = await store.readAll({ after: start, maxCount: 1000, types: [typeB, typeA] });
      t.same(idsOf(both), idsOf(written), 'several types keep the global order');
      const firstTwoA = await store.readAll({ after: start, maxCount: 2, types: [typeA] });
      t.same(idsOf(firstTwoA), idsOf(written.filter((e) => e.type === typeA).slice(0, 2)), 'maxCount with a filter');
      t.same(await store.readAll({ after: start, maxCount: 10, types: [uniqueType('Never')] }), []);
      const emptyFilter = await store.readAll({ after: start, maxCount: 1000, types: [] });
      t.same(idsOf(own(emptyFilter, [stream])), idsOf(written), 'an empty types list filters nothing');
    });

    void t.test('headPosition follows appends', async (t) => {
      const store = await open(t);
      const before = await store.headPosition();
      t.type(before, 'bigint');
      t.ok(before >= 0n);
      const result = await store.appendToStream(streamName('head'), [event('Headed'), event('Headed')], {
        expectedRevision: 'no_stream',
      });
      t.ok(result.position > before);
      const head = await eventually(async () => {
        const h = await store.headPosition();
        return h >= result.position ? h : undefined;
      });
      t.ok(head >= result.position, 'the head reaches the last append');
    });

    void t.test('lastPosition includes every committed append at once', async (t) => {
      const store = await open(t);
      const result = await store.appendToStream(streamName('last'), [event('Lasted')], { expectedRevision: 'no_stream' });
      const last = await store.lastPosition();
      t.type(last, 'bigint');
      t.ok(last >= result.position, 'no waiting: the append just committed is included');
      t.ok(last >= (await store.headPosition()), 'never below the head');
    });

    void t.test('ping resolves while the store is reachable', async (t) => {
      const store = await open(t);
      await t.resolves(store.ping());
    });

    void t.test('subscribeToAll catches up, then follows live appends, in batches', async (t) => {
      const store = await open(t);
      const start = await store.headPosition();
      const a = streamName('sub-a');
      const b = streamName('sub-b');
      const early = [event('Early'), event('Early'), event('Early')];
      await store.appendToStream(a, early, { expectedRevision: 'no_stream' });

      let inFlight = 0;
      let overlapped = false;
      const batchSizes: number[] = [];
      const received: RecordedEvent[] = [];
      const subscription = store.subscribeToAll(
        async (events) => {
          inFlight++;
          overlapped ||= inFlight > 1;
          batchSizes.push(events.length);
          await delay(5);
          received.push(...own(events, [a, b]));
          inFlight--;
        },
        { after: start, batchSize: 2 },
      );
      t.teardown(() => subscription.stop());
      await waitUntil(() => received.length >= early.length, 'catch-up');

      const live = [event('Live'), event('Live')];
      await store.appendToStream(b, live.slice(0, 1), { expectedRevision: 'no_stream' });
      await store.appendToStream(a, live.slice(1), { expectedRevision: 2n });
      await waitUntil(() => received.length >= early.length + live.length, 'live');
      await delay(QUIET_MS);

      t.same(idsOf(received), idsOf([...early, ...live]), 'every event exactly once, in global order');
      assertIncreasing(t, received);
      t.ok(batchSizes.every((n) => n >= 1 && n <= 2), 'batches are non-empty and at most batchSize');
      t.notOk(overlapped, 'the handler is awaited before the next batch');
      await subscription.stop();
      await t.resolves(subscription.done, 'done resolves after stop');
    });

    void t.test('a subscription resumes strictly after `after`', async (t) => {
      const store = await open(t);
      const stream = streamName('resume');
      const written = [event('R'), event('R'), event('R'), event('R')];
      await store.appendToStream(stream, written, { expectedRevision: 'no_stream' });
      const recorded = await store.readStream(stream);
      const second = recorded[1];
      if (!second) throw new Error('unreachable');

      const resumed = await collect(t, store, { after: second.position }, [stream], 2);
      await delay(QUIET_MS);
      t.same(idsOf(resumed.events), idsOf(written.slice(2)), 'only the events after the checkpoint');
      const more = event('R');
      await store.appendToStream(stream, [more], { expectedRevision: 3n });
      await waitUntil(() => resumed.events.length >= 3, 'live after resume');
      t.same(idsOf(resumed.events), idsOf([...written.slice(2), more]));
      await resumed.subscription.stop();
    });

    void t.test('a subscription with a types filter delivers only those types', async (t) => {
      const store = await open(t);
      const start = await store.headPosition();
      const stream = streamName('sub-types');
      const wanted = uniqueType('Wanted');
      const other = uniqueType('Other');
      const written = [wanted, other, other, wanted, other].map((type) => event(type));
      await store.appendToStream(stream, written.slice(0, 3), { expectedRevision: 'no_stream' });
      const expected = written.filter((e) => e.type === wanted);

      const sub = await collect(t, store, { after: start, types: [wanted] }, [stream], 1);
      await store.appendToStream(stream, written.slice(3), { expectedRevision: 2n });
      await waitUntil(() => sub.events.length >= expected.length, 'filtered live events');
      await delay(QUIET_MS);
      t.same(idsOf(sub.events), idsOf(expected));
      await sub.subscription.stop();
    });

    void t.test('stop() ends delivery and resolves done', async (t) => {
      const store = await open(t);
      const start = await store.headPosition();
      const stream = streamName('stop');
      await store.appendToStream(stream, [event('S')], { expectedRevision: 'no_stream' });
      const sub = await collect(t, store, { after: start }, [stream], 1);
      await sub.subscription.stop();
      await t.resolves(sub.subscription.done);
      await sub.subscription.stop(); // idempotent
      await store.appendToStream(stream, [event('S')], { expectedRevision: 0n });
      await delay(QUIET_MS);
      t.equal(sub.events.length, 1, 'nothing is delivered after stop');
    });

    void t.test('a handler error ends the subscription and rejects done', async (t) => {
      const store = await open(t);
      const start = await store.headPosition();
      const stream = streamName('fail');
      await store.appendToStream(stream, [event('F')], { expectedRevision: 'no_stream' });
      const failure = new Error('projection bug');
      let calls = 0;
      const subscription = store.subscribeToAll(
        async (events) => {
          if (own(events, [stream]).length === 0) return;
          calls++;
          throw failure;
        },
        { after: start },
      );
      await t.rejects(subscription.done, failure);
      await store.appendToStream(stream, [event('F')], { expectedRevision: 0n });
      await delay(QUIET_MS);
      t.equal(calls, 1, 'no delivery after the failure');
      await t.resolves(subscription.stop(), 'stop() still resolves');
    });
  });
}

// ---------------------------------------------------------------------------------------
// Helpers

const RUN = randomBytes(3).toString('hex');

function streamName(prefix: string): string {
  return `contract-${prefix}-${RUN}-${randomBytes(6).toString('hex')}`;
}

function uniqueType(prefix: string): string {
  return `${prefix}${randomBytes(6).toString('hex')}`;
}

function event(type: string, data: JsonObject = { n: Math.random() }): EventToAppend {
  return { id: randomUUID(), type, data, metadata: { source: 'contract' }, occurredAt: new Date() };
}

function idsOf(events: readonly { id: string }[]): string[] {
  return events.map((e) => e.id);
}

function own(events: readonly RecordedEvent[], streams: readonly string[]): RecordedEvent[] {
  return events.filter((e) => streams.includes(e.streamId));
}

async function revisions(store: EventStore, stream: string): Promise<bigint[]> {
  return (await store.readStream(stream)).map((e) => e.revision);
}

async function expectConflict(
  t: Test,
  store: EventStore,
  stream: string,
  expectedRevision: ExpectedRevision,
  allowedActual: readonly (bigint | 'no_stream' | 'unknown')[],
): Promise<void> {
  const error: unknown = await store.appendToStream(stream, [event('Conflicting')], { expectedRevision }).then(
    () => undefined,
    (e: unknown) => e,
  );
  if (!isConcurrencyConflict(error)) {
    t.fail(`expected a concurrency conflict for ${String(expectedRevision)}`, { error });
    return;
  }
  t.equal(error.streamId, stream, 'conflict names the stream');
  t.equal(error.expected, expectedRevision, 'conflict carries the expected revision');
  t.ok(allowedActual.includes(error.actual), `conflict actual ${String(error.actual)} is one of ${allowedActual.join(', ')}`);
}

function assertSameEvents(t: Test, got: readonly RecordedEvent[], want: readonly EventToAppend[], where: string): void {
  t.equal(got.length, want.length, `${where}: count`);
  want.forEach((w, i) => {
    const g = got[i];
    t.equal(g?.id, w.id, `${where}: id`);
    t.equal(g?.type, w.type, `${where}: type`);
    t.strictSame(g?.data, w.data, `${where}: data`);
    t.strictSame(g?.metadata, w.metadata, `${where}: metadata`);
    t.ok(g?.occurredAt instanceof Date, `${where}: occurredAt is a Date`);
    t.equal(g?.occurredAt.getTime(), w.occurredAt.getTime(), `${where}: occurredAt`);
    t.equal(g?.revision, BigInt(i), `${where}: revision`);
  });
}

function assertIncreasing(t: Test, events: readonly RecordedEvent[]): void {
  const increasing = events.every((e, i) => {
    const previous = events[i - 1];
    return previous === undefined || e.position > previous.position;
  });
  t.ok(increasing, 'positions strictly increase');
}

/** readAll until `count` events of `streams` are visible (see the module comment). */
async function readOwn(
  store: EventStore,
  options: ReadAllOptions,
  streams: readonly string[],
  count: number,
): Promise<RecordedEvent[]> {
  return eventually(async () => {
    const events = own(await store.readAll(options), streams);
    return events.length >= count ? events : undefined;
  });
}

interface Collected {
  events: RecordedEvent[];
  subscription: Subscription;
}

/** Subscribes, keeps the events of `streams`, and waits for the first `count` of them. */
async function collect(
  t: Test,
  store: EventStore,
  options: SubscribeOptions,
  streams: readonly string[],
  count: number,
): Promise<Collected> {
  const events: RecordedEvent[] = [];
  const subscription = store.subscribeToAll(async (batch) => {
    events.push(...own(batch, streams));
  }, options);
  t.teardown(() => subscription.stop());
  await waitUntil(() => events.length >= count, `${count} events delivered`);
  return { events, subscription };
}

async function eventually<T>(probe: () => Promise<T | undefined>): Promise<T> {
  const deadline = Date.now() + VISIBLE_WITHIN_MS;
  for (;;) {
    const value = await probe();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`not visible within ${VISIBLE_WITHIN_MS} ms`);
    await delay(20);
  }
}

async function waitUntil(condition: () => boolean, what: string): Promise<void> {
  await eventually(async () => (condition() ? true : undefined)).catch(() => {
    throw new Error(`timed out waiting for ${what}`);
  });
}

function delay(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
