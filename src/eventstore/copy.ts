/**
 * Copies every event of one event store into another (e.g. PostgreSQL → EventStoreDB),
 * in the source's global order, keeping stream ids, event ids, types, data, metadata and
 * occurredAt. Each event is appended with expected revision = its source revision - 1
 * ('no_stream' for revision 0), so every target stream gets exactly the source's events
 * in the source's order, at the same revisions. Consecutive events of one stream within a
 * batch go in one append.
 *
 * Resumable: the checkpoint holds the source position of the last event copied, saved
 * after each batch. Idempotent: an event already in the target stream at its revision with
 * the same id is skipped (counted in `skipped`); a different event there is an error
 * (CopyConflictError), as is a target stream that is behind the source's revision.
 *
 * Requires the source streams' revisions to be contiguous from 0 (true of both adapters
 * unless ESDB streams were truncated or deleted and recreated).
 */
import { readFile, rename, writeFile } from 'node:fs/promises';
import {
  isConcurrencyConflict,
  type EventStore,
  type EventToAppend,
  type ExpectedRevision,
  type RecordedEvent,
} from '../ports/eventStore.js';

export interface CopyCheckpoint {
  /** Source position of the last event copied; undefined when nothing was copied yet. */
  load(): Promise<bigint | undefined>;
  save(position: bigint): Promise<void>;
}

export interface CopyOptions {
  checkpoint: CopyCheckpoint;
  /** Source events read (and checkpointed) at a time; default 500. */
  batchSize?: number;
  /** Called after each batch is copied and checkpointed; throwing from it stops the copy. */
  onProgress?: (copied: number, position: bigint) => void;
}

export interface CopyResult {
  /** Events appended to the target by this run. */
  copied: number;
  /** Events already in the target (same stream, revision and id). */
  skipped: number;
}

/** The target holds a different event where the source's event should go. */
export class CopyConflictError extends Error {
  readonly streamId: string;
  readonly revision: bigint;
  constructor(streamId: string, revision: bigint, detail: string) {
    super(`copy conflict in stream ${streamId} at revision ${revision}: ${detail}`);
    this.name = 'CopyConflictError';
    this.streamId = streamId;
    this.revision = revision;
  }
}

const DEFAULT_BATCH_SIZE = 500;

export async function copyEvents(source: EventStore, target: EventStore, options: CopyOptions): Promise<CopyResult> {
  const batchSize = options.batchSize ?? DEFAULT_BATCH_SIZE;
  if (!Number.isInteger(batchSize) || batchSize < 1) throw new RangeError(`invalid batchSize ${batchSize}`);
  const result: CopyResult = { copied: 0, skipped: 0 };
  let after = await options.checkpoint.load();
  for (;;) {
    const batch = await source.readAll({ maxCount: batchSize, ...(after === undefined ? {} : { after }) });
    const last = batch.at(-1);
    if (!last) return result;
    for (const run of streamRuns(batch)) {
      const { copied, skipped } = await copyRun(target, run);
      result.copied += copied;
      result.skipped += skipped;
    }
    after = last.position;
    await options.checkpoint.save(after);
    options.onProgress?.(result.copied, after);
  }
}

/** Splits events (in global order) into maximal runs of consecutive revisions of one stream. */
export function streamRuns(events: readonly RecordedEvent[]): RecordedEvent[][] {
  const runs: RecordedEvent[][] = [];
  let current: RecordedEvent[] = [];
  for (const event of events) {
    const previous = current.at(-1);
    if (previous && (previous.streamId !== event.streamId || previous.revision + 1n !== event.revision)) {
      runs.push(current);
      current = [];
    }
    current.push(event);
  }
  if (current.length > 0) runs.push(current);
  return runs;
}

/** The expected revision that puts an event at its source revision. */
export function expectedRevisionFor(revision: bigint): ExpectedRevision {
  return revision === 0n ? 'no_stream' : revision - 1n;
}

export function toEventToAppend(event: RecordedEvent): EventToAppend {
  return {
    id: event.id,
    type: event.type,
    data: event.data,
    metadata: event.metadata,
    occurredAt: event.occurredAt,
  };
}

/** Appends a run of one stream's consecutive events, skipping those the target already has. */
async function copyRun(target: EventStore, run: readonly RecordedEvent[]): Promise<CopyResult> {
  const first = run[0];
  if (!first) return { copied: 0, skipped: 0 };
  try {
    await target.appendToStream(first.streamId, run.map(toEventToAppend), {
      expectedRevision: expectedRevisionFor(first.revision),
    });
    return { copied: run.length, skipped: 0 };
  } catch (error) {
    if (!isConcurrencyConflict(error)) throw error;
  }
  // The stream already goes past first.revision - 1: compare what is there.
  const existing = await target.readStream(first.streamId, { fromRevision: first.revision, maxCount: run.length });
  if (existing.length === 0) {
    const head = (await target.readStream(first.streamId, { direction: 'backwards', maxCount: 1 }))[0];
    throw new CopyConflictError(
      first.streamId,
      first.revision,
      `the target stream ends at ${head ? `revision ${head.revision}` : 'no revision (it does not exist)'}, ` +
        `revision ${first.revision - 1n} was expected`,
    );
  }
  existing.forEach((there, i) => assertSameEvent(there, run[i]));
  const rest = run.slice(existing.length);
  const more = rest.length > 0 ? await copyRun(target, rest) : { copied: 0, skipped: 0 };
  return { copied: more.copied, skipped: existing.length + more.skipped };
}

function assertSameEvent(there: RecordedEvent, wanted: RecordedEvent | undefined): void {
  if (!wanted) return;
  if (there.revision !== wanted.revision || there.id !== wanted.id) {
    throw new CopyConflictError(
      wanted.streamId,
      wanted.revision,
      `the target has event ${there.id} (${there.type}) at revision ${there.revision}, the source has ${wanted.id} (${wanted.type})`,
    );
  }
}

/** A checkpoint in a file holding the decimal position; written atomically (temp file + rename). */
export function fileCheckpoint(path: string): CopyCheckpoint {
  return {
    async load() {
      let text: string;
      try {
        text = await readFile(path, 'utf8');
      } catch (error) {
        if (error instanceof Error && 'code' in error && error.code === 'ENOENT') return undefined;
        throw error;
      }
      const trimmed = text.trim();
      if (!/^\d+$/.test(trimmed)) throw new Error(`copy checkpoint ${path} does not hold a position: ${JSON.stringify(trimmed)}`);
      return BigInt(trimmed);
    },
    async save(position) {
      const temp = `${path}.${process.pid}.tmp`;
      await writeFile(temp, `${position}\n`, 'utf8');
      await rename(temp, path);
    },
  };
}
