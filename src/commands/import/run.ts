/**
 * An import run: records from a source (Django, JSON Lines), checked (record.ts) and
 * imported (importUser.ts) in chunks: the chunk's streams read a few records a query,
 * keys created for the chunk at once, then ten users a commit (appendToStreams), a few
 * such batches at a time. Re-running the same source resumes an interrupted run: users
 * already imported are found by those reads and skipped as duplicates. Within a run, the first record (in source order)
 * with an email or phone keeps it; a later record with the same one is refused, on every
 * run alike, dry or not. Concurrency stays small so that live traffic on the same
 * database keeps its connections.
 */
import { userStream } from '../../domain/events.js';
import { isConcurrencyConflict } from '../../ports/eventStore.js';
import type { EventContext } from '../../ports/events.js';
import type { CommandDeps } from '../handle.js';
import type { Reservation } from '../../domain/identifier/reservation.js';
import type { User } from '../../domain/user/user.js';
import { loadMany, type Loaded } from '../load.js';
import { importAppends, importedUserId, importLoads, importUser, precheck, type ImportOutcome, type ImportRead } from './importUser.js';
import { isRefusal, prepareImport, type ImportOptions, type ImportRecord, type Prepared, type RefusalReason } from './record.js';

/** What a source yields: a record, or an entry it could not read (a bad JSON line). */
export type SourceItem = ImportRecord | { unreadable: string; sourceId: string | null };

export interface ImportSummary {
  read: number;
  imported: number;
  duplicate: number;
  refused: number;
  /** Refusals per reason. */
  reasons: Partial<Record<RefusalReason, number>>;
}

export interface ImportResult {
  sourceId: string | null;
  /** 1-based index of the entry in the source. */
  index: number;
  result: ImportOutcome;
}

export interface RunImportOptions extends ImportOptions {
  dryRun?: boolean;
  /** Batches of ten users written at once (default 8). */
  concurrency?: number;
  /** Records read and checked for duplicates together (default 100). */
  chunkSize?: number;
  onResult?: (r: ImportResult) => void;
  /** After every chunk. */
  onProgress?: (summary: ImportSummary) => void;
  /** Stops after the chunk in flight; the summary says what was done. */
  signal?: AbortSignal;
}

export const emptySummary = (): ImportSummary => ({ read: 0, imported: 0, duplicate: 0, refused: 0, reasons: {} });

export async function runImport(
  deps: CommandDeps, source: AsyncIterable<SourceItem>, options: RunImportOptions, context: () => EventContext,
): Promise<ImportSummary> {
  const summary = emptySummary();
  const firstHolder = new Map<string, string>(); // identifier (or source id) → source id of the first record with it
  const count = (r: ImportResult): void => {
    const o = r.result;
    if (o.outcome === 'refused') {
      summary.refused += 1;
      summary.reasons[o.reason] = (summary.reasons[o.reason] ?? 0) + 1;
    } else {
      summary[o.outcome] += 1;
    }
    options.onResult?.(r);
  };
  let chunk: Array<{ item: SourceItem; index: number }> = [];
  const flush = async (): Promise<void> => {
    const jobs = chunk.map(({ item, index }) => triage(deps, item, index, options, firstHolder, context().now));
    chunk = [];
    await readStreams(deps, jobs);
    for (const job of jobs) if (job.result) count({ sourceId: job.sourceId, index: job.index, result: job.result });
    const pending = jobs.filter((j) => !j.result);
    if (options.dryRun) {
      for (const job of pending) count({ sourceId: job.sourceId, index: job.index, result: { outcome: 'imported', userId: job.userId as string, position: null } });
    } else {
      await deps.keys.createMany(pending.map((j) => j.userId as string));
      const batches: Job[][] = [];
      for (let i = 0; i < pending.length; i += WRITE_GROUP) batches.push(pending.slice(i, i + WRITE_GROUP));
      await pool(batches, options.concurrency ?? 8, async (batch) => {
        for (const [job, result] of await writeBatch(deps, batch, context())) count({ sourceId: job.sourceId, index: job.index, result });
      });
    }
    options.onProgress?.({ ...summary, reasons: { ...summary.reasons } });
  };
  for await (const item of source) {
    summary.read += 1;
    chunk.push({ item, index: summary.read });
    if (chunk.length >= (options.chunkSize ?? 100)) await flush();
    if (options.signal?.aborted) break;
  }
  if (chunk.length > 0) await flush();
  return summary;
}

interface Job {
  sourceId: string | null;
  index: number;
  prepared?: Prepared;
  userId?: string;
  read?: ImportRead;
  result?: ImportOutcome | undefined;
}

/** Checks a record and settles what needs no store: refusals, identifiers already used in this run. */
function triage(
  deps: CommandDeps, item: SourceItem, index: number, options: RunImportOptions, firstHolder: Map<string, string>, now: Date,
): Job {
  if ('unreadable' in item) return { sourceId: item.sourceId, index, result: { outcome: 'refused', reason: 'invalid_record', detail: item.unreadable } };
  const prepared = prepareImport(item, deps.hasher, options, now);
  if (isRefusal(prepared)) return { sourceId: item.sourceId, index, result: { outcome: 'refused', ...prepared } };
  const userId = importedUserId(deps, options.source, item.sourceId);
  const again = `source:${item.sourceId}`; // the same record twice in the source
  if (firstHolder.has(again)) return { sourceId: item.sourceId, index, result: { outcome: 'duplicate', userId } };
  firstHolder.set(again, item.sourceId);
  for (const id of prepared.identifiers) {
    const key = `${id.kind}:${id.value}`;
    const first = firstHolder.get(key);
    if (first !== undefined && first !== item.sourceId) {
      return {
        sourceId: item.sourceId, index,
        result: { outcome: 'refused', reason: id.kind === 'email' ? 'email_taken' : 'phone_taken', detail: `record ${first} has this ${id.kind} too` },
      };
    }
  }
  for (const id of prepared.identifiers) if (!firstHolder.has(`${id.kind}:${id.value}`)) firstHolder.set(`${id.kind}:${id.value}`, item.sourceId);
  return { sourceId: item.sourceId, index, prepared, userId };
}

/**
 * The streams of the whole chunk in one read (users already there from an earlier run,
 * identifiers already held), and what they settle.
 */
async function readStreams(deps: CommandDeps, jobs: Job[]): Promise<void> {
  const open = jobs.filter((j) => !j.result);
  if (open.length === 0) return;
  // A few records a read, the reads side by side: a statement of hundreds of branches
  // costs PostgreSQL more to plan than a dozen small ones cost to run.
  const groups: Job[][] = [];
  for (let i = 0; i < open.length; i += READ_GROUP) groups.push(open.slice(i, i + READ_GROUP));
  await Promise.all(groups.map(async (group) => {
    // Whether each user stream exists is all a re-run needs (nothing to decrypt), so it is
    // read raw; the reservations of the users not there yet are folded.
    const users = await deps.store.readStreams(group.map((j) => ({ streamId: userStream(j.userId as string), latest: 1 })));
    const fresh = group.filter((job, i) => {
      if ((users[i]?.length ?? 0) === 0) return true;
      job.result = { outcome: 'duplicate', userId: job.userId as string };
      return false;
    });
    const loads = fresh.map((j) => importLoads(deps, j.userId as string, j.prepared as Prepared));
    const loaded = await loadMany(deps, ...loads.flat());
    let at = 0;
    for (const [i, job] of fresh.entries()) {
      const n = loads[i]?.length ?? 0;
      const [user, ...claims] = loaded.slice(at, at + n) as [Loaded<User>, ...Loaded<Reservation>[]];
      at += n;
      job.read = { user, claims };
      job.result = precheck(job.userId as string, job.prepared as Prepared, job.read) ?? undefined;
    }
  }));
}

const READ_GROUP = 10;
/** Users whose claims and UserImported go in one appendToStreams (one commit). */
const WRITE_GROUP = 10;

/**
 * The claims of a few users, then their UserImported, in one appendToStreams: one commit
 * instead of two per user. Claims come first, so a store that appends the parts one after
 * another (EventStoreDB) and fails half-way leaves only claims, which the next run takes up.
 * A conflict (someone took an identifier, another run imported a user meanwhile) appends
 * nothing on PostgreSQL; each user of the batch is then imported on their own, deciding
 * again on the streams as they are.
 */
async function writeBatch(deps: CommandDeps, batch: readonly Job[], ctx: EventContext): Promise<Array<[Job, ImportOutcome]>> {
  const parts = await Promise.all(batch.map((j) => importAppends(deps, j.userId as string, j.prepared as Prepared, j.read as ImportRead, ctx)));
  try {
    const results = await deps.store.appendToStreams([...parts.flatMap((p) => p.claims), ...parts.map((p) => p.user)]);
    const position = results.at(-1)?.position ?? null;
    return batch.map((j) => [j, { outcome: 'imported', userId: j.userId as string, position }]);
  } catch (e) {
    if (!isConcurrencyConflict(e)) throw e;
  }
  const out: Array<[Job, ImportOutcome]> = [];
  for (const j of batch) out.push([j, await importUser(deps, j.userId as string, j.prepared as Prepared, j.read as ImportRead, ctx)]);
  return out;
}

async function pool<T>(items: readonly T[], size: number, work: (item: T) => Promise<void>): Promise<void> {
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < items.length) {
      const item = items[next++] as T;
      await work(item);
    }
  };
  await Promise.all(Array.from({ length: Math.max(1, Math.min(size, items.length)) }, worker));
}
