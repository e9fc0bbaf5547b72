/**
 * copyEvents between two PostgreSQL event stores (two separate test databases: a
 * PostgreSQL server when one answers, else embedded PGlite; see test/helpers/db.ts).
 */
import { randomUUID } from 'node:crypto';
import { join } from 'node:path';
import { writeFile } from 'node:fs/promises';
import t from 'tap';
import type { Test } from 'tap';
import {
  CopyConflictError,
  copyEvents,
  expectedRevisionFor,
  fileCheckpoint,
  streamRuns,
  type CopyCheckpoint,
} from '../../src/eventstore/copy.js';
import { PostgresEventStore } from '../../src/eventstore/postgres/store.js';
import type { EventStore, EventToAppend, RecordedEvent } from '../../src/ports/eventStore.js';
import { createTestDatabase } from '../helpers/db.js';

async function openStore(t: Test): Promise<PostgresEventStore> {
  const { sql } = await createTestDatabase(t);
  const store = await PostgresEventStore.open(sql);
  t.teardown(() => store.close());
  return store;
}

function memoryCheckpoint(): CopyCheckpoint & { saved: bigint[] } {
  const saved: bigint[] = [];
  return {
    saved,
    async load() {
      return saved.at(-1);
    },
    async save(position) {
      saved.push(position);
    },
  };
}

let clock = Date.UTC(2024, 0, 1);
function event(type: string, n: number): EventToAppend {
  clock += 1234;
  return {
    id: randomUUID(),
    type,
    data: { n, text: `event ${n} — ünïcødé`, nested: { list: [n, null, true] } },
    metadata: { correlationId: randomUUID(), actor: { id: `user-${n % 3}` } },
    occurredAt: new Date(clock),
  };
}

/** 3 streams, interleaved appends of 1–3 events: 21 events in all. */
async function seed(store: EventStore): Promise<void> {
  const streams = ['user-a', 'user-b', 'session-c'];
  const next = new Map<string, bigint>();
  let n = 0;
  for (let round = 0; round < 4; round++) {
    for (const [i, stream] of streams.entries()) {
      const count = ((round + i) % 3) + 1;
      if (round === 3 && i === 2) continue;
      const events = Array.from({ length: count }, () => event(i === 2 ? 'SessionStarted' : 'UserChanged', n++));
      const revision = next.get(stream);
      const result = await store.appendToStream(stream, events, {
        expectedRevision: revision === undefined ? 'no_stream' : revision,
      });
      next.set(stream, result.nextExpectedRevision);
    }
  }
}

async function readEverything(store: EventStore): Promise<RecordedEvent[]> {
  return store.readAll({ maxCount: 100_000 });
}

/**
 * readAll once `count` events are visible: the PostgreSQL adapter shows commits to global
 * readers only once every older transaction in the cluster has ended (other test files
 * run in parallel on the same server).
 */
async function visible(store: EventStore, count: number): Promise<RecordedEvent[]> {
  const deadline = Date.now() + 10_000;
  for (;;) {
    const events = await readEverything(store);
    if (events.length >= count) return events;
    if (Date.now() > deadline) throw new Error(`only ${events.length} of ${count} events visible after 10 s`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

const SEEDED = 21;

/** Everything but the global position (positions are the target's own). */
function portable(events: readonly RecordedEvent[]) {
  return events.map(({ id, streamId, type, revision, occurredAt, data, metadata }) => ({
    id,
    streamId,
    type,
    revision,
    occurredAt: occurredAt.toISOString(),
    data,
    metadata,
  }));
}

async function assertIdentical(t: Test, source: EventStore, target: EventStore): Promise<void> {
  const from = await readEverything(source);
  const to = await visible(target, from.length);
  t.equal(to.length, from.length, 'same number of events');
  t.strictSame(portable(to), portable(from), 'same events in the same global order');
  for (const stream of new Set(from.map((e) => e.streamId))) {
    t.strictSame(
      portable(await target.readStream(stream)),
      portable(await source.readStream(stream)),
      `stream ${stream} identical`,
    );
  }
}

t.test('streamRuns groups consecutive revisions of one stream', async (t) => {
  const e = (streamId: string, revision: bigint): RecordedEvent => ({
    id: `${streamId}-${revision}`,
    streamId,
    type: 'T',
    revision,
    position: 0n,
    occurredAt: new Date(0),
    recordedAt: new Date(0),
    data: {},
    metadata: {},
  });
  const runs = streamRuns([e('a', 0n), e('a', 1n), e('b', 0n), e('a', 2n), e('a', 3n), e('a', 5n)]);
  t.same(
    runs.map((run) => run.map((x) => x.id)),
    [['a-0', 'a-1'], ['b-0'], ['a-2', 'a-3'], ['a-5']],
  );
  t.same(streamRuns([]), []);
  t.equal(expectedRevisionFor(0n), 'no_stream');
  t.equal(expectedRevisionFor(7n), 6n);
});

t.test('copies everything, in order, with ids, metadata and occurredAt', async (t) => {
  const source = await openStore(t);
  const target = await openStore(t);
  await seed(source);
  const total = (await visible(source, SEEDED)).length;
  t.equal(total, SEEDED);

  const checkpoint = memoryCheckpoint();
  const progress: Array<[number, bigint]> = [];
  const result = await copyEvents(source, target, {
    checkpoint,
    batchSize: 4,
    onProgress: (copied, position) => progress.push([copied, position]),
  });
  t.same(result, { copied: total, skipped: 0 });
  await assertIdentical(t, source, target);
  const lastSource = (await readEverything(source)).at(-1)?.position;
  t.equal(checkpoint.saved.at(-1), lastSource, 'the checkpoint holds the last source position');
  t.equal(progress.length, Math.ceil(total / 4), 'progress after every batch');
  t.same(progress.at(-1), [total, lastSource]);
});

t.test('an interrupted copy resumes from its checkpoint', async (t) => {
  const source = await openStore(t);
  const target = await openStore(t);
  await seed(source);
  const total = (await visible(source, SEEDED)).length;

  const checkpoint = memoryCheckpoint();
  const interruption = new Error('interrupted');
  let batches = 0;
  await t.rejects(
    copyEvents(source, target, {
      checkpoint,
      batchSize: 5,
      onProgress: () => {
        batches += 1;
        if (batches === 2) throw interruption;
      },
    }),
    interruption,
  );
  t.equal(checkpoint.saved.length, 2, 'two batches were checkpointed');
  const partial = await visible(target, 10);
  t.equal(partial.length, 10, 'the target holds the first two batches');

  const resumed = await copyEvents(source, target, { checkpoint, batchSize: 5 });
  t.same(resumed, { copied: total - 10, skipped: 0 }, 'the rest, nothing twice');
  await assertIdentical(t, source, target);
});

t.test('running again copies nothing new; a lost checkpoint only skips', async (t) => {
  const source = await openStore(t);
  const target = await openStore(t);
  await seed(source);
  const total = (await visible(source, SEEDED)).length;

  const checkpoint = memoryCheckpoint();
  t.same(await copyEvents(source, target, { checkpoint, batchSize: 7 }), { copied: total, skipped: 0 });
  t.same(await copyEvents(source, target, { checkpoint, batchSize: 7 }), { copied: 0, skipped: 0 }, 'up to date');

  const fresh = memoryCheckpoint();
  t.same(
    await copyEvents(source, target, { checkpoint: fresh, batchSize: 3 }),
    { copied: 0, skipped: total },
    'from scratch: every event is recognised by stream, revision and id',
  );
  await assertIdentical(t, source, target);

  // New source events after the copy: only those are copied.
  await source.appendToStream('user-a', [event('UserChanged', 100)], { expectedRevision: 'stream_exists' });
  await source.appendToStream('brand-new', [event('Created', 101), event('Created', 102)], {
    expectedRevision: 'no_stream',
  });
  await visible(source, total + 3);
  t.same(await copyEvents(source, target, { checkpoint, batchSize: 7 }), { copied: 3, skipped: 0 });
  await assertIdentical(t, source, target);
});

t.test('a crash between append and checkpoint: the re-copied batch is skipped', async (t) => {
  const source = await openStore(t);
  const target = await openStore(t);
  await seed(source);
  const total = (await visible(source, SEEDED)).length;

  // The second save fails: batch 2 is in the target, but the checkpoint still says batch 1.
  const inner = memoryCheckpoint();
  let saves = 0;
  const flaky: CopyCheckpoint = {
    load: () => inner.load(),
    async save(position) {
      saves += 1;
      if (saves === 2) throw new Error('disk full');
      await inner.save(position);
    },
  };
  await t.rejects(copyEvents(source, target, { checkpoint: flaky, batchSize: 4 }), /disk full/);
  t.equal((await visible(target, 8)).length, 8);

  const again = await copyEvents(source, target, { checkpoint: inner, batchSize: 3 });
  t.same(again, { copied: total - 8, skipped: 4 }, 'batch 2 is recognised and skipped');
  await assertIdentical(t, source, target);
});

t.test('a different event at the same revision in the target is an error', async (t) => {
  const source = await openStore(t);
  const target = await openStore(t);
  await source.appendToStream('user-a', [event('UserChanged', 1), event('UserChanged', 2)], {
    expectedRevision: 'no_stream',
  });
  const intruder = event('Intruder', 3);
  await target.appendToStream('user-a', [intruder], { expectedRevision: 'no_stream' });
  await visible(source, 2);

  const error: unknown = await copyEvents(source, target, { checkpoint: memoryCheckpoint() }).then(
    () => undefined,
    (e: unknown) => e,
  );
  t.ok(error instanceof CopyConflictError, 'CopyConflictError');
  if (error instanceof CopyConflictError) {
    t.equal(error.streamId, 'user-a');
    t.equal(error.revision, 0n);
    t.match(error.message, intruder.id, 'names the event found in the target');
  }
  t.same((await target.readStream('user-a')).map((e) => e.id), [intruder.id], 'the target is untouched');
});

t.test('a target stream behind the source revision is an error', async (t) => {
  const source = await openStore(t);
  const target = await openStore(t);
  await source.appendToStream('user-a', [event('UserChanged', 1), event('UserChanged', 2)], {
    expectedRevision: 'no_stream',
  });
  await visible(source, 2);
  // Checkpoint after the first event, but the target never got it.
  const first = (await source.readStream('user-a'))[0];
  if (!first) throw new Error('unreachable');
  const checkpoint = memoryCheckpoint();
  await checkpoint.save(first.position);
  await t.rejects(copyEvents(source, target, { checkpoint }), CopyConflictError);
});

t.test('fileCheckpoint stores the position in a file', async (t) => {
  const dir = t.testdir({});
  const path = join(dir, 'copy.checkpoint');
  const checkpoint = fileCheckpoint(path);
  t.equal(await checkpoint.load(), undefined, 'no file yet');
  const big = 2n ** 63n - 1n;
  await checkpoint.save(big);
  t.equal(await fileCheckpoint(path).load(), big, '64-bit position round-trips exactly');
  await checkpoint.save(42n);
  t.equal(await checkpoint.load(), 42n);
  await writeFile(path, 'garbage');
  await t.rejects(checkpoint.load(), /does not hold a position/);
});

t.test('copy with a file checkpoint resumes across runs', async (t) => {
  const source = await openStore(t);
  const target = await openStore(t);
  await seed(source);
  const total = (await visible(source, SEEDED)).length;
  const path = join(t.testdir({}), 'copy.checkpoint');

  let seen = 0;
  await t.rejects(
    copyEvents(source, target, {
      checkpoint: fileCheckpoint(path),
      batchSize: 6,
      onProgress: (copied) => {
        seen = copied;
        throw new Error('stop after the first batch');
      },
    }),
  );
  t.equal(seen, 6);
  const rest = await copyEvents(source, target, { checkpoint: fileCheckpoint(path), batchSize: 6 });
  t.same(rest, { copied: total - 6, skipped: 0 });
  await assertIdentical(t, source, target);
});
