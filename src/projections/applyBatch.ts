/**
 * Applying one live batch to the SQL projections, exactly once: one transaction that locks
 * the projections' checkpoint rows (sent along with BEGIN), gives each projection the
 * events after its stored position, and moves the checkpoints to the batch's last
 * position. Used by the runner in-process, or by the projection worker thread
 * (`worker.ts`) on its own connections.
 */
import type { Decoded } from '../infra/eventCodec.js';
import type { Sql } from '../infra/sql.js';
import { checkpointPositions, lockCheckpointsStatement, saveCheckpoints } from './checkpoints.js';
import type { Projection } from './runner.js';
import { liveTable } from './tables.js';

/** A projection's checkpoint after the batch, or `rewound`: it lies before the batch (nothing done). */
export type BatchOutcome = { position: bigint; rewound: boolean };

/** Applies batches; the runner's default does it in-process, a worker on another thread. */
export interface BatchApplier {
  apply(
    projections: readonly Projection[],
    events: readonly Decoded[],
    from: bigint,
    last: bigint,
  ): Promise<Map<string, BatchOutcome>>;
}

/** Events strictly after `position`. */
const after = (events: readonly Decoded[], position: bigint): Decoded[] => events.filter((e) => e.position > position);

/**
 * One transaction for the whole batch (its events are those in (from, last]): lock the
 * checkpoints of `projections`, apply to each what it has not applied yet, advance them
 * together. Returns each checkpoint, or `rewound` when it lies before this batch.
 */
export function applyBatch(
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
        outcomes.set(p.name, { position, rewound: false }); // another instance (or a rebuild) got here first
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

/** The in-process applier. */
export const applyOn = (sql: Sql): BatchApplier => ({
  apply: (projections, events, from, last) => applyBatch(sql, projections, events, from, last),
});
