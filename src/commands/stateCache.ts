/**
 * Folded states of recently used streams, so a command reads only the events appended
 * since (a session stream grows by one event per refresh). Safe because a stream's
 * revisions are sequential and every append still names its expected revision: a stale
 * entry only costs a conflict and a re-read. States are immutable values.
 *
 * Bounded by weight: setting an entry drops the entries set longest ago until the total is
 * within `limit`. Every state the commands keep is small (~1 KB) and weighs the default 1,
 * a session's too: it keeps its newest retired hashes only, not one per refresh.
 */
export class StateCache {
  readonly #entries = new Map<string, { state: unknown; revision: bigint; weight: number }>();
  readonly #limit: number;
  #weight = 0;

  constructor(limit = 50_000) {
    this.#limit = Math.max(1, limit);
  }

  /** Total weight of the entries held. */
  get weight(): number {
    return this.#weight;
  }

  get size(): number {
    return this.#entries.size;
  }

  get(streamId: string): { state: unknown; revision: bigint } | undefined {
    return this.#entries.get(streamId);
  }

  set(streamId: string, state: unknown, revision: bigint, weight = 1): void {
    this.delete(streamId);
    const w = Number.isFinite(weight) && weight > 0 ? weight : 1;
    this.#entries.set(streamId, { state, revision, weight: w });
    this.#weight += w;
    // The newest entry stays even if it alone is over the limit: it is the one in use.
    for (const [oldest, entry] of this.#entries) {
      if (this.#weight <= this.#limit || oldest === streamId) break;
      this.#entries.delete(oldest);
      this.#weight -= entry.weight;
    }
  }

  delete(streamId: string): void {
    const entry = this.#entries.get(streamId);
    if (!entry) return;
    this.#entries.delete(streamId);
    this.#weight -= entry.weight;
  }
}
