/**
 * In-memory set of revoked session ids, for rejecting access tokens of revoked sessions
 * without a database round trip. Fed by the runner (SessionRevoked), by the local command
 * path at once (`markRevoked`), and warmed at start-up from the `sessions` read model
 * (`load(await revokedSessionsSince(db, new Date(Date.now() - horizon)))`).
 *
 * An entry only matters while access tokens issued before the revocation may still be
 * presented, so entries older than `horizonMs` (default 25 h: longer than the largest
 * access-token TTL, 24 h) are pruned, at most once per `pruneEveryMs`, on insert.
 */
import type { Decoded } from '../ports/events.js';
import { REVOCATION_HORIZON_MS } from '../domain/settings/settings.js';
import type { LiveConsumer } from '../ports/projections.js';

export interface RevocationSetOptions {
  horizonMs?: number;
  pruneEveryMs?: number;
  /** Clock (ms since the epoch), for tests. */
  now?: () => number;
}

export class RevocationSet implements LiveConsumer {
  readonly name = 'revocations';
  readonly #revokedAt = new Map<string, number>();
  readonly #horizonMs: number;
  readonly #pruneEveryMs: number;
  readonly #now: () => number;
  #lastPrune: number;

  constructor(options: RevocationSetOptions = {}) {
    this.#horizonMs = options.horizonMs ?? REVOCATION_HORIZON_MS;
    this.#pruneEveryMs = options.pruneEveryMs ?? 60_000;
    this.#now = options.now ?? Date.now;
    this.#lastPrune = this.#now();
  }

  /** Forgets every entry (before loading them again). */
  clear(): void {
    this.#revokedAt.clear();
  }

  get size(): number {
    return this.#revokedAt.size;
  }

  isRevoked(sessionId: string): boolean {
    return this.#revokedAt.has(sessionId.toLowerCase());
  }

  /** The command path revoked these sessions just now. */
  markRevoked(sessionIds: Iterable<string>): void {
    this.#addAll(sessionIds, this.#now());
  }

  /** Warms the set at start-up; the entries count as revoked now (kept a full horizon). */
  load(sessionIds: Iterable<string>): void {
    this.#addAll(sessionIds, this.#now());
  }

  apply(events: Decoded[]): void {
    for (const e of events) {
      if (e.type === 'SessionRevoked') this.#add(e.data.session_id, e.occurredAt.getTime());
    }
    this.#maybePrune();
  }

  /** Drops entries revoked more than the horizon ago; returns how many. */
  prune(): number {
    const cutoff = this.#now() - this.#horizonMs;
    let dropped = 0;
    for (const [id, at] of this.#revokedAt) {
      if (at < cutoff) {
        this.#revokedAt.delete(id);
        dropped += 1;
      }
    }
    this.#lastPrune = this.#now();
    return dropped;
  }

  #addAll(sessionIds: Iterable<string>, at: number): void {
    for (const id of sessionIds) this.#add(id, at);
    this.#maybePrune();
  }

  #add(sessionId: string, at: number): void {
    if (at < this.#now() - this.#horizonMs) return; // too old to matter
    const id = sessionId.toLowerCase();
    const known = this.#revokedAt.get(id);
    this.#revokedAt.set(id, known === undefined ? at : Math.max(known, at));
  }

  #maybePrune(): void {
    if (this.#now() - this.#lastPrune >= this.#pruneEveryMs) this.prune();
  }
}
