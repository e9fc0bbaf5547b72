/**
 * An in-memory cache in front of the `users` read model, for the hot GET /v1/me path.
 * It is fed by the runner as a LiveConsumer, which sees each batch just before the SQL
 * projections apply it; so it knows the position of each user's newest event, and caches
 * a row read from the table only if the `users` projection had already applied that
 * position when the read began and no newer event arrived meanwhile. A cached entry is
 * therefore never older than the read model itself.
 */
import { BoundedMap } from '../../lib/boundedMap.js';
import type { Decoded } from '../../ports/events.js';
import type { UserView } from './queries.js';
import { USER_TYPES } from './projection.js';
import type { LiveConsumer } from '../../ports/projections.js';

/** The events that change a users row (and so evict its cached copy). */
const USER_EVENT_TYPES: ReadonlySet<string> = new Set(USER_TYPES);

export class UserCache implements LiveConsumer {
  readonly name = 'user-cache';
  #entries: BoundedMap<string, UserView>;
  readonly #newestEvent = new Map<string, bigint>();
  readonly #limit: number;
  readonly #appliedPosition: () => bigint;
  /** Every user event not in #newestEvent lies at or below this position. */
  #floor: bigint;
  #lastSeen: bigint;

  /** `from`: the position the consumer is fed from (the users checkpoint at start-up). */
  constructor(options: { appliedPosition: () => bigint; from: bigint; limit?: number }) {
    this.#appliedPosition = options.appliedPosition;
    this.#floor = options.from;
    this.#lastSeen = options.from;
    this.#limit = options.limit ?? 20_000;
    this.#entries = new BoundedMap(this.#limit);
  }

  /** Drops every cached user; what follows `from` is tracked again. */
  clear(from: bigint): void {
    this.#entries = new BoundedMap(this.#limit);
    this.#newestEvent.clear();
    this.#floor = from;
    this.#lastSeen = from;
  }

  apply(events: Decoded[]): void {
    for (const e of events) {
      if (e.position > this.#lastSeen) this.#lastSeen = e.position;
      if (!USER_EVENT_TYPES.has(e.type)) continue;
      const id = (e.data as { user_id: string }).user_id;
      this.#entries.delete(id);
      this.#newestEvent.set(id, e.position);
    }
    if (this.#newestEvent.size > this.#limit * 4) {
      // Forget per-user positions; what is forgotten is covered by the floor.
      this.#floor = this.#lastSeen;
      this.#newestEvent.clear();
    }
  }

  async get(id: string, load: (id: string) => Promise<UserView | null>): Promise<UserView | null> {
    const hit = this.#entries.get(id);
    if (hit) return hit;
    const newest = this.#newestOf(id);
    const applied = this.#appliedPosition();
    const user = await load(id);
    if (user && applied >= newest && this.#newestOf(id) === newest) this.#entries.set(id, user);
    return user;
  }

  #newestOf(id: string): bigint {
    return this.#newestEvent.get(id) ?? this.#floor;
  }
}
