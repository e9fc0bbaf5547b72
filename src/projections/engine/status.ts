/** The lag of each projection and live consumer, as operators see it (admin API, CLI). */
import type { EventStore } from '../../ports/eventStore.js';

export interface ProjectionStatus {
  name: string;
  kind: 'sql' | 'live';
  /** Last position applied by this instance's loop (or seen applied by another instance). */
  position: bigint;
  head: bigint;
  /** Events after `position` up to `head`; at most `scanLimit` (then `lag_capped`). */
  lag_events: number;
  lag_capped: boolean;
  /** How long the oldest event not applied yet has waited (by its occurredAt); 0 when caught up. */
  lag_ms: number;
}

/**
 * Counting reads the events after the lowest position, at most `scanLimit` of them: cheap
 * when caught up, bounded when not.
 */
export async function projectionStatus(
  store: EventStore,
  targets: ReadonlyArray<{ name: string; kind: 'sql' | 'live'; position: bigint }>,
  scanLimit: number,
): Promise<ProjectionStatus[]> {
  const head = await store.headPosition();
  const lowest = targets.reduce((min, t) => (t.position < min ? t.position : min), head);
  const pending = lowest < head
    ? (await store.readAll({ after: lowest, maxCount: scanLimit })).filter((e) => e.position <= head)
    : [];
  const capped = pending.length >= scanLimit;
  const now = Date.now();
  return targets.map(({ name, kind, position }) => {
    const behind = pending.filter((e) => e.position > position);
    const oldest = behind[0];
    return {
      name, kind, position, head,
      lag_events: behind.length,
      lag_capped: capped && behind.length > 0,
      lag_ms: oldest ? Math.max(0, now - oldest.occurredAt.getTime()) : 0,
    };
  });
}
