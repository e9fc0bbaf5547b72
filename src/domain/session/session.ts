/**
 * The session aggregate (`session-<id>`): refresh-token rotation with reuse detection
 * (RFC 9700 §4.14.2). Only hashes of refresh tokens are ever seen here.
 */
import { InvalidTokenError } from '../errors.js';
import type { Recorded, SessionEvent, SessionRevokedReason } from '../events.js';
import type { Aggregate } from '../decider.js';

/// State

/** Retired hashes packed into one string per this many (see RetiredHashes). */
const CHUNK = 64;
const SEPARATOR = '\n';

/**
 * The hashes of a session's retired refresh tokens, oldest first: an immutable list that
 * grows in O(1) per rotation (a session rotated every few minutes for weeks retires
 * thousands) and is kept compact, since cached session states hold it. Every `CHUNK`
 * hashes are packed into one string (`\nh1\nh2\n…\n`), ~44 bytes a hash against ~114 as
 * separate strings in linked nodes; the newest ones wait in a short array. Appending
 * copies that array (fewer than `CHUNK` references) or, once full, the list of chunks.
 * `has` searches the strings, which only a token other than the current one pays for.
 */
export class RetiredHashes implements Iterable<string> {
  static readonly none = new RetiredHashes([], [], 0);
  /** The most recently retired hash. */
  readonly last: string | undefined;
  readonly size: number;
  readonly #chunks: readonly string[];
  /** The newest hashes, not packed yet (fewer than CHUNK), oldest first. */
  readonly #tail: readonly string[];

  private constructor(chunks: readonly string[], tail: readonly string[], size: number, last?: string) {
    this.#chunks = chunks;
    this.#tail = tail;
    this.size = size;
    this.last = last;
  }

  with(hash: string): RetiredHashes {
    if (hash.includes(SEPARATOR)) throw new RangeError('a token hash cannot contain a line break');
    const tail = [...this.#tail, hash];
    if (tail.length < CHUNK) return new RetiredHashes(this.#chunks, tail, this.size + 1, hash);
    const packed = `${SEPARATOR}${tail.join(SEPARATOR)}${SEPARATOR}`;
    return new RetiredHashes([...this.#chunks, packed], [], this.size + 1, hash);
  }

  has(hash: string): boolean {
    if (this.#tail.includes(hash)) return true;
    if (hash.includes(SEPARATOR)) return false;
    const needle = `${SEPARATOR}${hash}${SEPARATOR}`;
    return this.#chunks.some((chunk) => chunk.includes(needle));
  }

  *[Symbol.iterator](): Iterator<string> {
    for (const chunk of this.#chunks) yield* chunk.slice(1, -1).split(SEPARATOR);
    yield* this.#tail;
  }
}

/** A retired refresh token and when the store recorded the rotation that retired it. */
export interface Retirement {
  hash: string;
  at: Date;
}

/**
 * How long after a rotation was recorded a presentation of the token it retired still counts
 * as a lost race, unless the deciding instance knows the rotation's answer had left before
 * the presentation arrived. Requests a client sends at once reach different instances a few
 * milliseconds apart, and a fast winner can commit before a slow loser is even stamped; a
 * replay inside this window gets invalid_token (no tokens, nothing revoked) instead of
 * token_reused. Theft detection gives up these two seconds across instances, nothing else.
 * Half a second was too short: an instance whose event loop stalls (a cold start, a busy
 * machine) stamps a loser it had long received after the window, and a lost race became
 * theft on a loaded CI machine; a missed detection costs less than a revoked innocent session.
 */
export const LOST_RACE_WINDOW_MS = 2000;

/** How many of the newest retirements keep their time (for lost races and the reuse grace). */
export const TIMED_RETIREMENTS = 16;

export interface ExistingSession {
  status: 'active' | 'revoked';
  id: string;
  userId: string;
  currentHash: string;
  previousHashes: RetiredHashes;
  /** The newest retirements with their times, newest last (at most TIMED_RETIREMENTS). */
  recentRetirements: readonly Retirement[];
  expiresAt: Date;
  createdAt: Date;
  lastUsedAt: Date;
  userRevision: bigint;
  revokedReason: SessionRevokedReason | null;
  /** How the session was signed in (RFC 8176), carried into every token of it. */
  amr: readonly string[];
}

export type Session = { status: 'none' } | ExistingSession;

export const initialSession = (): Session => ({ status: 'none' });

export function evolveSession(state: Session, event: Recorded<SessionEvent>): Session {
  if (event.type === 'SessionStarted') {
    const d = event.data;
    return {
      status: 'active', id: d.session_id, userId: d.user_id, currentHash: d.refresh_token_hash,
      previousHashes: RetiredHashes.none, recentRetirements: [], expiresAt: new Date(d.expires_at), createdAt: event.occurredAt,
      lastUsedAt: event.occurredAt, userRevision: BigInt(d.user_revision), revokedReason: null, amr: d.amr ?? ['pwd'],
    };
  }
  if (state.status === 'none') return state;
  switch (event.type) {
    case 'RefreshTokenRotated':
      return {
        ...state, currentHash: event.data.refresh_token_hash,
        previousHashes: state.previousHashes.with(state.currentHash),
        recentRetirements: [
          ...state.recentRetirements.slice(1 - TIMED_RETIREMENTS), { hash: state.currentHash, at: event.recordedAt },
        ],
        expiresAt: new Date(event.data.expires_at), lastUsedAt: event.occurredAt,
      };
    case 'RefreshTokenReuseDetected':
      return state;
    case 'SessionRevoked':
      return state.status === 'revoked' ? state : { ...state, status: 'revoked', revokedReason: event.data.reason };
  }
}

/// Decisions

export interface StartSession {
  sessionId: string;
  userId: string;
  refreshTokenHash: string;
  expiresAt: Date;
  userRevision: bigint;
  amr: readonly string[];
}

export function decideStart(state: Session, c: StartSession): SessionEvent[] {
  if (state.status !== 'none') throw new InvalidTokenError('session id already used');
  return [{
    type: 'SessionStarted',
    data: {
      session_id: c.sessionId, user_id: c.userId, refresh_token_hash: c.refreshTokenHash,
      expires_at: c.expiresAt.toISOString(), user_revision: c.userRevision.toString(),
      amr: [...c.amr],
    },
  }];
}

export interface RotateRefresh {
  presentedHash: string;
  newHash: string;
  newExpiresAt: Date;
  /** When the request arrived. */
  now: Date;
  /** Whether the user stream still allows this session (active, not cut off). */
  userAllows: boolean;
  /** The reuse grace in seconds (0: none). */
  graceSeconds: number;
  /**
   * The presented token was the session's current one when this request first read the
   * stream: whatever happened since, the request began before the rotation that retired
   * it was committed.
   */
  sawCurrent?: boolean;
  /**
   * How long after a rotation a presentation of the token it retired is still a lost race
   * (LOST_RACE_WINDOW_MS; 0 when the deciding instance itself answered that rotation before
   * this request arrived: then anything later is a replay).
   */
  raceWindowMs?: number;
}

/**
 * Returns the events to append. Three cases for a token that was the session's:
 * - the current one: rotated (if the session is live and the user allows it);
 * - a retired one within the reuse grace of its rotation: rotated again, marked
 *   `within_grace` (a second tab, a retry after a lost response): same session, fresh pair;
 * - a retired one the request presented before the rotation that retired it was recorded
 *   (`sawCurrent`), or within `raceWindowMs` of it: a lost race, invalid_token, nothing
 *   written;
 * - any other retired one: reuse. [RefreshTokenReuseDetected, SessionRevoked] must be
 *   recorded, and the caller then answers token_reused.
 */
export function decideRotate(state: Session, c: RotateRefresh): SessionEvent[] {
  if (state.status === 'none') throw new InvalidTokenError();
  const ids = { session_id: state.id, user_id: state.userId };
  if (state.status === 'revoked') throw new InvalidTokenError();
  const rotated = (grace: boolean): SessionEvent[] => {
    if (state.expiresAt.getTime() <= c.now.getTime()) throw new InvalidTokenError('the refresh token has expired');
    if (!c.userAllows) throw new InvalidTokenError();
    return [{
      type: 'RefreshTokenRotated',
      data: { ...ids, refresh_token_hash: c.newHash, expires_at: c.newExpiresAt.toISOString(), ...(grace ? { within_grace: true as const } : {}) },
    }];
  };
  if (c.presentedHash === state.currentHash) return rotated(false);
  if (!state.previousHashes.has(c.presentedHash)) throw new InvalidTokenError();
  const retiredAt = retirementOf(state, c.presentedHash)?.getTime();
  if (retiredAt !== undefined && withinGrace(retiredAt, c)) return rotated(true);
  if (c.sawCurrent === true || (retiredAt !== undefined && c.now.getTime() <= retiredAt + (c.raceWindowMs ?? 0))) {
    throw new InvalidTokenError('this refresh token was rotated by a concurrent request');
  }
  return [
    { type: 'RefreshTokenReuseDetected', data: ids },
    { type: 'SessionRevoked', data: { ...ids, reason: 'reuse_detected' } },
  ];
}

/** When the rotation that retired `hash` was recorded (undefined: not among the newest). */
function retirementOf(state: ExistingSession, hash: string): Date | undefined {
  for (let i = state.recentRetirements.length - 1; i >= 0; i--) {
    const r = state.recentRetirements[i] as Retirement;
    if (r.hash === hash) return r.at;
  }
  return undefined;
}

/** Within the grace: presented no more than graceSeconds after its rotation was recorded. */
const withinGrace = (retiredAt: number, c: RotateRefresh): boolean =>
  c.graceSeconds > 0 && c.now.getTime() - retiredAt <= c.graceSeconds * 1000;

export function decideRevoke(state: Session, reason: SessionRevokedReason): SessionEvent[] {
  if (state.status !== 'active') return [];
  return [{ type: 'SessionRevoked', data: { session_id: state.id, user_id: state.userId, reason } }];
}

/** A session whose refresh token is usable now (not revoked, not expired). */
export const isLive = (s: Session, now: Date): s is ExistingSession =>
  s.status === 'active' && s.expiresAt.getTime() > now.getTime();

/** Whether `presentedHash` is the session's refresh token and it is usable now (introspection's test). */
export const refreshTokenUsable = (s: Session, presentedHash: string, now: Date): s is ExistingSession =>
  isLive(s, now) && s.currentHash === presentedHash;

export const SessionAggregate: Aggregate<Session, SessionEvent> = {
  initial: initialSession,
  evolve: evolveSession,
  weigh: (state) => (state.status === 'none' ? 1 : 1 + Math.floor(state.previousHashes.size / 20)),
};
