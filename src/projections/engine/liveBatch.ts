/**
 * EXACTLY-ONCE APPLICATION OF A LIVE BATCH
 *
 * A batch is applied to every SQL projection and their checkpoints advanced in ONE
 * transaction that first locks the checkpoint rows (`select … for update`, in name order)
 * and gives each projection only the events after its stored position. A crash rolls back
 * all of it; a second instance running the same projections waits on the row locks, then
 * sees the advanced checkpoints and skips. A checkpoint moves to the last event of the
 * batch even when its projection ignored every event of it.
 * A checkpoint found BEHIND the batch (moved back by hand to replay, or its tables were
 * re-created) is not skipped over: the outcome says `rewound`, and the runner
 * re-subscribes from it.
 * The usual case, every checkpoint where this runner left it, is sent pipelined. When every
 * projection with something to do only writes (`writesOnly`), the whole transaction goes in
 * one round trip: the lock, their statements, a checkpoint update that fails unless every
 * checkpoint was where this runner left it (so the transaction aborts and the COMMIT behind
 * it rolls back), and the COMMIT. Otherwise the lock, the statements and the checkpoint
 * update go in one round trip, then COMMIT once the locked rows confirm the assumption, or
 * ROLLBACK. A batch found on the wrong assumption goes the careful, locking way.
 *
 * Several instances on one database each offer every batch: one applies it, the others
 * find it done. For those the pipelined paths are wasted work (every statement of the
 * batch run, then rolled back), so a runner that has just found its checkpoints moved by
 * another instance (`contended`) goes the locking way first for a while (`lockFirst`): it
 * waits for the lock, sees the batch applied, and commits nothing.
 */
import type { Decoded } from '../../ports/events.js';
import type { Projection } from '../../ports/projections.js';
import type { Sql, SqlExecutor, Statement } from '../../ports/sql.js';
import {
  advanceCheckpointsStatement, checkpointPositions, lockCheckpointsStatement, saveCheckpoints,
} from './checkpoints.js';
import { liveTable } from './tables.js';

/** Where a projection's checkpoint stands after the batch; `rewound`: it lay before the batch, nothing done. */
export interface BatchOutcome {
  position: bigint;
  rewound: boolean;
  /** The batch was found applied already (by another instance, or a rebuild). */
  byOther?: true;
}

/** A pipelined batch found a checkpoint elsewhere than this runner left it (rolled back). */
class CheckpointsMoved extends Error {}

/** What applyLiveBatch did: where each checkpoint stands, and whether another instance had moved one. */
export interface BatchResult {
  outcomes: Map<string, BatchOutcome>;
  contended: boolean;
}

/** Events strictly after `position`. */
export const after = (events: readonly Decoded[], position: bigint): Decoded[] =>
  events.filter((e) => e.position > position);

/**
 * One transaction for the whole batch (the events in (from, last]): lock the checkpoints of
 * `projections`, apply to each what it has not applied yet, advance them together.
 * `expected`: each checkpoint where this runner left it (the pipelined paths' assumption).
 */
export async function applyLiveBatch(
  sql: Sql,
  projections: readonly Projection[],
  expected: ReadonlyMap<string, bigint>,
  events: readonly Decoded[],
  from: bigint,
  last: bigint,
  /** Skip the pipelined paths: other instances have been applying the batches lately. */
  lockFirst = false,
): Promise<BatchResult> {
  const names = projections.map((p) => p.name);
  const asLeft = (locked: Record<string, unknown>[]): boolean => {
    const stored = checkpointPositions(locked, names);
    return names.every((name) => stored.get(name) === expected.get(name));
  };
  const allAdvanced = (): BatchResult => ({ outcomes: new Map(names.map((name) => [name, { position: last, rewound: false }])), contended: false });
  const locked = async (contended: boolean): Promise<BatchResult> => {
    const outcomes = await applyLocked(sql, projections, events, from, last);
    return { outcomes, contended: contended || [...outcomes.values()].some((o) => o.byOther === true) };
  };
  if (lockFirst || !names.every((name) => { const p = expected.get(name) ?? -1n; return p >= from && p < last; })) return locked(false);
  const writes = await recordWrites(projections, events, expected);
  if (writes) {
    const { first, failure } = await sql.pipelinedBatch(lockCheckpointsStatement(names),
      [...writes, advanceCheckpointsStatement(expected, last)]);
    if (asLeft(first)) {
      if (failure) throw failure;
      return allAdvanced();
    }
    // A checkpoint had moved: the checkpoint update failed, nothing was committed.
    return locked(true);
  }
  try {
    return await sql.pipelinedTransaction(lockCheckpointsStatement(names), async (tx, lockedRows) => {
      const pending: Promise<void>[] = [];
      for (const p of projections) {
        const fresh = after(events, expected.get(p.name) ?? -1n);
        if (fresh.length > 0) pending.push(p.apply(tx, fresh, liveTable));
      }
      pending.push(saveCheckpoints(tx, names, last));
      // Every statement settles before COMMIT or ROLLBACK is sent.
      const failed = (await Promise.allSettled(pending)).find((r) => r.status === 'rejected');
      // Checked first: writes made on a wrong assumption may fail (a row applied twice),
      // and that is no error of the batch.
      if (!asLeft(await lockedRows)) throw new CheckpointsMoved();
      if (failed) throw failed.reason;
      return allAdvanced();
    });
  } catch (error) {
    if (!(error instanceof CheckpointsMoved)) throw error;
    return locked(true);
  }
}

/** The batch decided on the locked checkpoints: skip, rewind or apply per projection. */
function applyLocked(
  sql: Sql,
  projections: readonly Projection[],
  events: readonly Decoded[],
  from: bigint,
  last: bigint,
): Promise<Map<string, BatchOutcome>> {
  const names = projections.map((p) => p.name);
  // The checkpoint rows are locked by a statement sent along with BEGIN: one round trip.
  return sql.transaction(async (tx, locked) => {
    const stored = checkpointPositions(locked, names);
    const outcomes = new Map<string, BatchOutcome>();
    const advanced: string[] = [];
    for (const p of projections) {
      const position = stored.get(p.name) ?? 0n;
      if (position >= last) {
        outcomes.set(p.name, { position, rewound: false, byOther: true }); // another instance (or a rebuild) got here first
      } else if (position < from) {
        outcomes.set(p.name, { position, rewound: true });
      } else {
        const fresh = after(events, position);
        if (fresh.length > 0) await p.apply(tx, fresh, liveTable);
        advanced.push(p.name);
        outcomes.set(p.name, { position: last, rewound: false });
      }
    }
    if (advanced.length > 0) await saveCheckpoints(tx, advanced, last);
    return outcomes;
  }, { first: lockCheckpointsStatement(names) });
}

/**
 * The statements the projections would run for this batch (each given the events after
 * its checkpoint), recorded instead of run; undefined when a projection that has something
 * to do (an event of its `types`, or any event when it declares none) reads.
 */
async function recordWrites(
  projections: readonly Projection[],
  events: readonly Decoded[],
  expected: ReadonlyMap<string, bigint>,
): Promise<Statement[] | undefined> {
  const statements: Statement[] = [];
  const recorder: SqlExecutor = {
    query: async <R>(text: string, params?: readonly unknown[]) => {
      statements.push(params === undefined ? { text } : { text, params });
      return { rows: [] as R[], rowCount: 0 };
    },
  };
  for (const p of projections) {
    const fresh = after(events, expected.get(p.name) ?? -1n);
    if (fresh.length === 0) continue;
    if (p.writesOnly === true) {
      await p.apply(recorder, fresh, liveTable);
      continue;
    }
    const types = p.types === undefined ? undefined : new Set<string>(p.types);
    if (types === undefined || fresh.some((e) => types.has(e.type))) return undefined;
  }
  return statements;
}
