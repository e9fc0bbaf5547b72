/**
 * Warming the user cut-offs at start-up (tokens/userCutoffs.ts) from the event log.
 */
import { REVOCATION_HORIZON_MS } from '../domain/settings/settings.js';
import type { EventStore } from '../ports/eventStore.js';
import type { EventDecoder } from '../ports/events.js';
import { CUT_OFF_TYPES, type UserCutoffs } from './userCutoffs.js';

/**
 * Loads the user cut-offs of the revocation horizon from the log (the cut-off event types
 * only, through the store's type index) and returns the position to follow on from. Older
 * events are read but not decoded (no data-key lookups): no token they cut off is alive.
 */
export async function warmCutoffs(store: EventStore, codec: EventDecoder, cutoffs: UserCutoffs): Promise<bigint> {
  const head = await store.headPosition();
  const oldest = Date.now() - REVOCATION_HORIZON_MS;
  let after = 0n;
  for (;;) {
    const page = await store.readAll({ after, maxCount: 1000, types: CUT_OFF_TYPES });
    const inRange = page.filter((e) => e.position <= head && e.occurredAt.getTime() >= oldest);
    cutoffs.apply(await codec.decodeAll(inRange));
    const last = page.at(-1);
    if (!last || page.length < 1000 || last.position >= head) return head;
    after = last.position;
  }
}
