/**
 * User-level cut-offs of access tokens, in memory, fed by the user streams: after a user is
 * disabled, changes or resets their password, is erased or loses a role, every access token issued
 * against an earlier revision of their stream is refused (a password change keeps the
 * session that made it). Access tokens carry that revision (`urv`), so the check is exact
 * and needs no clock: a login that was decided on the revision before a concurrent disable
 * holds a token the disable cuts off.
 *
 * Fed like the revocation set: by this instance's commands at once (CommandListener), by the
 * event subscription for every instance, and warmed at start-up from the log. An entry
 * matters only while a token issued before it may still be presented, so entries older
 * than the revocation horizon are dropped.
 */
import { REVOCATION_HORIZON_MS } from '../domain/settings/settings.js';
import type { DomainEvent, Recorded } from '../domain/events.js';
import type { LiveConsumer } from '../ports/projections.js';

/** The events after which a user's earlier tokens stop working. */
export const CUT_OFF_TYPES = ['UserDisabled', 'PasswordChanged', 'PasswordReset', 'UserErased', 'RoleRevoked'] as const;
const CUTS: ReadonlySet<string> = new Set(CUT_OFF_TYPES);

interface Cut {
  /** Tokens need `urv` at least this… */
  revision: bigint;
  /** …unless they belong to this session (the one that changed the password)… */
  kept: string | null;
  /** …and then at least this (the newest cut that kept no session). */
  hardRevision: bigint;
  at: number;
}

export class UserCutoffs implements LiveConsumer {
  readonly name = 'user-cutoffs';
  readonly #cuts = new Map<string, Cut>();
  readonly #horizonMs: number;
  readonly #now: () => number;
  #lastPrune: number;

  constructor(options: { horizonMs?: number; now?: () => number } = {}) {
    this.#horizonMs = options.horizonMs ?? REVOCATION_HORIZON_MS;
    this.#now = options.now ?? Date.now;
    this.#lastPrune = this.#now();
  }

  /** Forgets every cut (before loading them again). */
  clear(): void {
    this.#cuts.clear();
  }

  get size(): number {
    return this.#cuts.size;
  }

  /** Whether a token of `userId`'s session `sessionId`, issued at user revision `urv`, is still good. */
  allows(userId: string, sessionId: string, urv: unknown): boolean {
    const cut = this.#cuts.get(userId);
    if (!cut) return true;
    const revision = typeof urv === 'string' && /^\d{1,19}$/.test(urv) ? BigInt(urv) : -1n;
    if (revision >= cut.revision) return true;
    return sessionId === cut.kept && revision >= cut.hardRevision;
  }

  /** Events from the subscription, or appended by this instance's commands. */
  apply(events: readonly Recorded<DomainEvent>[]): void {
    for (const e of events) {
      if (!CUTS.has(e.type) || !e.streamId.startsWith('user-')) continue;
      const userId = (e.data as { user_id: string }).user_id;
      const kept = e.type === 'PasswordChanged' ? e.data.kept_session_id : null;
      this.#cut(userId, e.revision, kept, e.occurredAt.getTime());
    }
    if (this.#now() - this.#lastPrune >= 60_000) this.prune();
  }

  /** Drops cuts older than the horizon (no token issued before them can still be valid). */
  prune(): number {
    const oldest = this.#now() - this.#horizonMs;
    let dropped = 0;
    for (const [userId, cut] of this.#cuts) {
      if (cut.at < oldest) {
        this.#cuts.delete(userId);
        dropped += 1;
      }
    }
    this.#lastPrune = this.#now();
    return dropped;
  }

  /** `revision`: the cut event's own revision: tokens issued against it or later are good. */
  #cut(userId: string, revision: bigint, kept: string | null, at: number): void {
    if (at < this.#now() - this.#horizonMs) return;
    const known = this.#cuts.get(userId);
    if (known && known.revision >= revision) return; // delivered again, or older than what we hold
    const hardRevision = kept === null ? revision : (known?.hardRevision ?? 0n);
    this.#cuts.set(userId, { revision, kept, hardRevision, at: Math.max(at, known?.at ?? 0) });
  }
}
