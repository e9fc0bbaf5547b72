/**
 * Unit tests of the EventStoreDB adapter's pure mapping code: no server involved. Error
 * translation uses the client's own error classes where they can be constructed without a
 * gRPC call, and gRPC-shaped errors (numeric `code`) the way the client converts them.
 */
import t from 'tap';
import {
  ANY,
  DeadlineExceededError,
  NO_STREAM,
  START,
  STREAM_EXISTS,
  StreamNotFoundError,
  UnavailableError,
  WrongExpectedVersionError,
  type Position,
} from '@eventstore/db-client';
import {
  EventMappingError,
  OCCURRED_AT_KEY,
  comparePositions,
  eventTypesRegex,
  foldForwardPage,
  fromGlobalPosition,
  isEsdbUnavailable,
  isStreamNotFound,
  readStartAfter,
  redactConnectionString,
  scanBackwardPage,
  selectNewEvents,
  splitMetadata,
  subscriptionFilter,
  toEsdbEventData,
  toEsdbExpectedRevision,
  toGlobalPosition,
  toRecordedEvent,
  translateEsdbError,
  wantsEventType,
  type EsdbRecordedEventLike,
  type EsdbResolvedEventLike,
} from '../../../src/eventstore/eventstoredb/mapping.js';
import { ConcurrencyConflictError, StoreUnavailableError, type RecordedEvent } from '../../../src/ports/eventStore.js';

const MAX_INT64 = 2n ** 63n - 1n;
const MAX_UINT64 = 2n ** 64n - 1n;
const created = new Date('2024-01-02T03:04:05.678Z');

interface Overrides {
  type?: string;
  streamId?: string;
  revision?: bigint;
  prepare?: bigint;
  metadata?: unknown;
}

function record(commit: bigint, overrides: Overrides = {}): EsdbRecordedEventLike {
  return {
    streamId: overrides.streamId ?? 'user-1',
    id: `00000000-0000-4000-8000-${commit.toString(16).padStart(12, '0').slice(-12)}`,
    type: overrides.type ?? 'UserRegistered',
    revision: overrides.revision ?? 0n,
    created,
    isJson: true,
    data: { n: Number(commit % 1000n) },
    metadata: overrides.metadata ?? { [OCCURRED_AT_KEY]: '2023-05-06T07:08:09.010Z' },
    position: { commit, prepare: overrides.prepare ?? commit },
  };
}

function resolved(commit: bigint, overrides: Overrides = {}): EsdbResolvedEventLike {
  return { event: record(commit, overrides), commitPosition: commit };
}

t.test('expected revision maps to the client constants', async (t) => {
  t.equal(toEsdbExpectedRevision('no_stream'), NO_STREAM);
  t.equal(toEsdbExpectedRevision('stream_exists'), STREAM_EXISTS);
  t.equal(toEsdbExpectedRevision('any'), ANY);
  t.equal(toEsdbExpectedRevision(0n), 0n);
  t.equal(toEsdbExpectedRevision(MAX_INT64), MAX_INT64);
  t.throws(() => toEsdbExpectedRevision(-1n), RangeError);
});

t.test('64-bit positions round-trip without precision loss', async (t) => {
  for (const p of [0n, 1n, 2n ** 53n + 1n, MAX_INT64, MAX_UINT64 - 1n]) {
    const esdb = fromGlobalPosition(p);
    t.same(esdb, { commit: p, prepare: p });
    t.equal(toGlobalPosition(esdb), p, `position ${p}`);
  }
  t.throws(() => fromGlobalPosition(-1n), RangeError);
  t.throws(() => fromGlobalPosition(MAX_UINT64 + 1n), RangeError);
  t.equal(readStartAfter(undefined), START);
  t.same(readStartAfter(MAX_INT64), { commit: MAX_INT64, prepare: MAX_INT64 });

  const event = toRecordedEvent(resolved(MAX_INT64, { revision: MAX_INT64 - 1n }));
  t.equal(event.position, MAX_INT64);
  t.equal(event.revision, MAX_INT64 - 1n);
  t.equal(typeof event.position, 'bigint');
});

t.test('positions order by commit, then prepare', async (t) => {
  const p = (commit: bigint, prepare: bigint): Position => ({ commit, prepare });
  t.equal(comparePositions(p(1n, 1n), p(2n, 0n)), -1);
  t.equal(comparePositions(p(2n, 1n), p(2n, 0n)), 1);
  t.equal(comparePositions(p(MAX_INT64, MAX_INT64), p(MAX_INT64, MAX_INT64)), 0);
  t.equal(comparePositions(p(MAX_INT64 - 1n, 0n), p(MAX_INT64, 0n)), -1);
});

t.test('event data carries occurredAt in the metadata as occurred_at', async (t) => {
  const occurredAt = new Date('2024-02-29T23:59:59.999Z');
  const data = toEsdbEventData({
    id: '5b0d1f0e-3c1a-4e53-9b7e-0a5b8f3f2a11',
    type: 'PasswordChanged',
    data: { userId: 'u1', nested: { list: [1, 'two', null, true] } },
    metadata: { correlationId: 'c-1' },
    occurredAt,
  });
  t.same(data, {
    id: '5b0d1f0e-3c1a-4e53-9b7e-0a5b8f3f2a11',
    contentType: 'application/json',
    type: 'PasswordChanged',
    data: { userId: 'u1', nested: { list: [1, 'two', null, true] } },
    metadata: { correlationId: 'c-1', occurred_at: '2024-02-29T23:59:59.999Z' },
  });
  t.throws(
    () =>
      toEsdbEventData({ id: 'x', type: 'T', data: {}, metadata: { occurred_at: 'mine' }, occurredAt }),
    /reserved/,
  );
});

t.test('recorded events: occurred_at read back and removed from the metadata', async (t) => {
  const event = toRecordedEvent(
    resolved(42n, { metadata: { correlationId: 'c-1', [OCCURRED_AT_KEY]: '2023-05-06T07:08:09.010Z' }, revision: 3n }),
  );
  const expected: RecordedEvent = {
    id: '00000000-0000-4000-8000-00000000002a',
    streamId: 'user-1',
    type: 'UserRegistered',
    revision: 3n,
    position: 42n,
    occurredAt: new Date('2023-05-06T07:08:09.010Z'),
    recordedAt: created,
    data: { n: 42 },
    metadata: { correlationId: 'c-1' },
  };
  t.same(event, expected);
  t.notOk(Object.hasOwn(event.metadata, OCCURRED_AT_KEY));
});

t.test('recorded events: occurredAt falls back to created', async (t) => {
  t.same(toRecordedEvent(resolved(1n, { metadata: { a: 1 } })).occurredAt, created, 'no occurred_at');
  t.same(toRecordedEvent(resolved(1n, { metadata: { occurred_at: 'not a date' } })).occurredAt, created, 'invalid');
  t.same(toRecordedEvent(resolved(1n, { metadata: { occurred_at: 17 } })).occurredAt, created, 'not a string');
  const none = toRecordedEvent({ event: { ...record(1n), metadata: undefined } });
  t.same(none.metadata, {}, 'no metadata at all');
  t.same(none.occurredAt, created);
  const binary = toRecordedEvent({ event: { ...record(1n), metadata: new Uint8Array([1, 2]) } });
  t.same(binary.metadata, {}, 'binary metadata is not ours: dropped');
});

t.test('splitMetadata keeps every other key', async (t) => {
  const { metadata, occurredAt } = splitMetadata({ a: [1, { b: null }], occurred_at: '2020-01-01T00:00:00.000Z' });
  t.same(metadata, { a: [1, { b: null }] });
  t.same(occurredAt, new Date('2020-01-01T00:00:00.000Z'));
});

t.test('recorded events: position from the event, else the read commit position', async (t) => {
  const base = record(7n);
  t.equal(toRecordedEvent({ event: { ...base, position: undefined }, commitPosition: 9n }).position, 9n);
  t.throws(() => toRecordedEvent({ event: { ...base, position: undefined } }), EventMappingError);
  const unknown = { commit: MAX_UINT64, prepare: MAX_UINT64 };
  t.equal(toRecordedEvent({ event: { ...base, position: unknown }, commitPosition: 9n }).position, 9n, '2^64-1 is unknown');
  t.throws(() => toRecordedEvent({ event: { ...base, position: unknown }, commitPosition: MAX_UINT64 }), EventMappingError);
  t.throws(() => toRecordedEvent({}), EventMappingError);
});

t.test('recorded events: non-JSON data is refused', async (t) => {
  const base = record(7n);
  t.throws(() => toRecordedEvent({ event: { ...base, isJson: false, data: new Uint8Array([1]) } }), EventMappingError);
  t.throws(() => toRecordedEvent({ event: { ...base, data: [1, 2] } }), EventMappingError);
  t.throws(() => toRecordedEvent({ event: { ...base, data: 'text' } }), EventMappingError);
});

t.test('WrongExpectedVersionError → ConcurrencyConflictError', async (t) => {
  const wrong = new WrongExpectedVersionError(undefined, { streamName: 'user-1', expected: 4n, current: 6n });
  const translated = translateEsdbError(wrong, { streamId: 'user-1', expected: 4n });
  t.ok(translated instanceof ConcurrencyConflictError);
  if (!(translated instanceof ConcurrencyConflictError)) return;
  t.equal(translated.streamId, 'user-1');
  t.equal(translated.expected, 4n);
  t.equal(translated.actual, 6n);
  t.equal(translated.cause, wrong);

  const noStream = new WrongExpectedVersionError(undefined, {
    streamName: 'user-2',
    expected: STREAM_EXISTS,
    current: NO_STREAM,
  });
  const t2 = translateEsdbError(noStream, { streamId: 'user-2', expected: 'stream_exists' });
  t.ok(t2 instanceof ConcurrencyConflictError);
  if (t2 instanceof ConcurrencyConflictError) {
    t.equal(t2.actual, 'no_stream');
    t.equal(t2.expected, 'stream_exists');
  }

  const large = new WrongExpectedVersionError(undefined, { streamName: 's', expected: NO_STREAM, current: MAX_INT64 });
  const t3 = translateEsdbError(large, { streamId: 's', expected: 'no_stream' });
  t.equal(t3 instanceof ConcurrencyConflictError && t3.actual, MAX_INT64);
});

t.test('connection errors → StoreUnavailableError', async (t) => {
  const cases: Array<[string, Error]> = [
    ['UnavailableError', new UnavailableError(undefined, 'No connection established')],
    ['DeadlineExceededError', new DeadlineExceededError(undefined, 'Deadline exceeded')],
    // Raw gRPC errors, as the client converts them (status codes UNAVAILABLE, DEADLINE_EXCEEDED, ABORTED).
    ['gRPC 14', Object.assign(new Error('14 UNAVAILABLE: No connection established'), { code: 14, details: 'x' })],
    ['gRPC 4', Object.assign(new Error('4 DEADLINE_EXCEEDED'), { code: 4, details: 'x' })],
    ['gRPC 10', Object.assign(new Error('10 ABORTED'), { code: 10, details: 'x' })],
    // Matching the client's `type` field (NotLeaderError needs a gRPC call's metadata to construct).
    ['not-leader by type', Object.assign(new Error('not leader'), { type: 'not-leader' })],
    ['discovery', new Error('Failed to discover after 10 attempts.')],
  ];
  for (const [name, error] of cases) {
    t.ok(isEsdbUnavailable(error), `${name} is unavailability`);
    const translated = translateEsdbError(error, { streamId: 's', expected: 'any' });
    t.ok(translated instanceof StoreUnavailableError, `${name} → StoreUnavailableError`);
    t.equal(translated instanceof Error && translated.cause instanceof Error, true, `${name} keeps a cause`);
  }
});

t.test('other errors pass through', async (t) => {
  const notFound = new StreamNotFoundError(undefined, 'user-9');
  t.ok(isStreamNotFound(notFound));
  t.equal(translateEsdbError(notFound), notFound);
  const plain = new TypeError('boom');
  t.equal(translateEsdbError(plain), plain);
  t.notOk(isEsdbUnavailable(plain));
  // A numeric code without gRPC details must not crash the translation.
  const odd = Object.assign(new Error('odd'), { code: 2 });
  t.equal(translateEsdbError(odd), odd);
  const already = new StoreUnavailableError('down');
  t.equal(translateEsdbError(already), already);
  t.equal(translateEsdbError('a string'), 'a string');
  // A conflict without append context (not an append) is not turned into a ConcurrencyConflictError.
  const wrong = new WrongExpectedVersionError(undefined, { streamName: 's', expected: 1n, current: 2n });
  t.equal(translateEsdbError(wrong), wrong);
});

t.test('filters: exact event types, system events excluded', async (t) => {
  const all = subscriptionFilter(undefined);
  t.equal(all.filterOn, 'eventType');
  t.ok('regex' in all && all.regex === '^[^$].*');
  t.same(subscriptionFilter([]), all);

  const some = subscriptionFilter(['User.Registered', 'Login+Failed']);
  t.equal(some.filterOn, 'eventType');
  const regex = 'regex' in some ? new RegExp(some.regex) : undefined;
  t.ok(regex);
  t.ok(regex?.test('User.Registered'));
  t.ok(regex?.test('Login+Failed'));
  t.notOk(regex?.test('UserXRegistered'), 'dot is literal');
  t.notOk(regex?.test('User.Registered2'), 'anchored');
  t.equal(eventTypesRegex(['a']), '^(?:a)$');

  t.ok(wantsEventType('A', undefined));
  t.ok(wantsEventType('A', []));
  t.ok(wantsEventType('A', ['A', 'B']));
  t.notOk(wantsEventType('C', ['A', 'B']));
  t.notOk(wantsEventType('$metadata', undefined));
  t.notOk(wantsEventType('$>', ['$>']));
});

t.test('foldForwardPage: after is exclusive, system events and other types skipped', async (t) => {
  const page = [
    resolved(10n),
    resolved(20n, { type: '$metadata', streamId: '$$user-1' }),
    resolved(30n, { type: 'Other' }),
    resolved(40n),
  ];
  const out: RecordedEvent[] = [];
  const step = foldForwardPage(page, out, { after: 10n, maxCount: 10, types: ['UserRegistered'] }, undefined);
  t.same(out.map((e) => e.position), [40n]);
  t.same(step.lastSeen, { commit: 40n, prepare: 40n });
  t.equal(step.fresh, 3);
  t.equal(step.complete, false);
});

t.test('foldForwardPage: the inclusive first record of a continuation page is skipped', async (t) => {
  const out: RecordedEvent[] = [];
  const lastSeen = { commit: 10n, prepare: 10n };
  const step = foldForwardPage([resolved(10n), resolved(11n)], out, { maxCount: 5 }, lastSeen);
  t.same(out.map((e) => e.position), [11n]);
  t.equal(step.fresh, 1);
});

t.test('foldForwardPage: stops at maxCount but never inside a commit group', async (t) => {
  const page = [
    resolved(10n),
    resolved(20n, { prepare: 18n }),
    resolved(20n, { prepare: 19n }),
    resolved(30n),
  ];
  const out: RecordedEvent[] = [];
  const step = foldForwardPage(page, out, { maxCount: 2 }, undefined);
  t.same(out.map((e) => e.position), [10n, 20n, 20n], 'the group sharing commit 20 stays whole');
  t.equal(step.complete, true);
  t.same(step.lastSeen, { commit: 20n, prepare: 19n });

  const exact: RecordedEvent[] = [];
  const s2 = foldForwardPage([resolved(1n), resolved(2n), resolved(3n)], exact, { maxCount: 2 }, undefined);
  t.same(exact.map((e) => e.position), [1n, 2n]);
  t.equal(s2.complete, true);
  t.same(s2.lastSeen, { commit: 2n, prepare: 2n });
});

t.test('scanBackwardPage: newest non-system event', async (t) => {
  const page = [resolved(50n, { type: '$statsCollected' }), resolved(40n), resolved(30n)];
  t.equal(scanBackwardPage(page, undefined).found, 40n);
  const systemOnly = scanBackwardPage([resolved(50n, { type: '$metadata' })], undefined);
  t.equal(systemOnly.found, undefined);
  t.same(systemOnly.lastSeen, { commit: 50n, prepare: 50n });
  t.equal(scanBackwardPage([resolved(50n)], { commit: 50n, prepare: 50n }).found, undefined, 'exclusive');
  t.equal(scanBackwardPage([], undefined).found, undefined);
});

t.test('selectNewEvents: dedupes after a resubscription, tracks the last position', async (t) => {
  const received = [resolved(5n), resolved(6n), resolved(7n, { type: 'Other' })];
  const fromStart = selectNewEvents(received, undefined, ['UserRegistered']);
  t.same(fromStart.batch.map((e) => e.position), [5n, 6n]);
  t.same(fromStart.last, { commit: 7n, prepare: 7n }, 'last covers skipped types too');

  const resumed = selectNewEvents(received, { commit: 6n, prepare: 6n }, undefined);
  t.same(resumed.batch.map((e) => e.position), [7n]);
  const afterPort = selectNewEvents(received, 5n, undefined);
  t.same(afterPort.batch.map((e) => e.position), [6n, 7n]);
  const nothing = selectNewEvents(received, MAX_INT64, undefined);
  t.same(nothing, { batch: [], last: undefined });
});

t.test('connection strings are redacted in messages', async (t) => {
  t.equal(redactConnectionString('esdb://admin:changeit@db:2113?tls=false'), 'esdb://admin:***@db:2113?tls=false');
  t.equal(redactConnectionString('esdb://db:2113?tls=false'), 'esdb://db:2113?tls=false');
  t.equal(
    redactConnectionString('esdb+discover://ops:p%40ss@a:2113,b:2113'),
    'esdb+discover://ops:***@a:2113,b:2113',
  );
});
