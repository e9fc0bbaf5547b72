/**
 * The session aggregate (`session-<id>`): refresh-token rotation with reuse detection
 * (RFC 9700 §4.14.2). Only hashes of refresh tokens are ever seen here.
 */
import { InvalidTokenError } from './errors.js';
import type { Recorded, SessionEvent, SessionRevokedReason } from './events.js';

/// State

/**
 * The hashes of a session's retired refresh tokens, oldest first: an immutable list that
 * grows in O(1) per rotation (a session rotated every few minutes for weeks retires
 * thousands). `has` walks it, which only a token other than the current one pays for.
 */
export class RetiredHashes implements Iterable<string> {
  static readonly none = new RetiredHashes(undefined, undefined);
  /** The most recently retired hash. */
  readonly last: string | undefined;
  readonly size: number;
  readonly #before: RetiredHashes | undefined;

  private constructor(last: string | undefined, before: RetiredHashes | undefined) {
    this.last = last;
    this.#before = before;
    this.size = before === undefined ? 0 : before.size + 1;
  }

  with(hash: string): RetiredHashes {
    return new RetiredHashes(hash, this);
  }

  has(hash: string): boolean {
    for (let node: RetiredHashes | undefined = this; node && node.size > 0; node = node.#before) {
      if (node.last === hash) return true;
    }
    return false;
  }

  *[Symbol.iterator](): Iterator<string> {
    const newestFirst: string[] = [];
    for (let node: RetiredHashes | undefined = this; node && node.size > 0; node = node.#before) {
      if (node.last !== undefined) newestFirst.push(node.last);
    }
    yield* newestFirst.reverse();
  }
}

export interface ExistingSession {
  status: 'active' | 'revoked';
  id: string;
  userId: string;
  currentHash: string;
  previousHashes: RetiredHashes;
  expiresAt: Date;
  createdAt: Date;
  lastUsedAt: Date;
  userRevision: bigint;
  revokedReason: SessionRevokedReason | null;
}

export type Session = { status: 'none' } | ExistingSession;

export const initialSession = (): Session => ({ status: 'none' });

export function evolveSession(state: Session, event: Recorded<SessionEvent>): Session {
  if (event.type === 'SessionStarted') {
    const d = event.data;
    return {
      status: 'active', id: d.session_id, userId: d.user_id, currentHash: d.refresh_token_hash,
      previousHashes: RetiredHashes.none, expiresAt: new Date(d.expires_at), createdAt: event.occurredAt,
      lastUsedAt: event.occurredAt, userRevision: BigInt(d.user_revision), revokedReason: null,
    };
  }
  if (state.status === 'none') return state;
  switch (event.type) {
    case 'RefreshTokenRotated':
      return {
        ...state, currentHash: event.data.refresh_token_hash,
        previousHashes: state.previousHashes.with(state.currentHash),
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
}

export function decideStart(state: Session, c: StartSession): SessionEvent[] {
  if (state.status !== 'none') throw new InvalidTokenError('session id already used');
  return [{
    type: 'SessionStarted',
    data: {
      session_id: c.sessionId, user_id: c.userId, refresh_token_hash: c.refreshTokenHash,
      expires_at: c.expiresAt.toISOString(), user_revision: c.userRevision.toString(),
    },
  }];
}

export interface RotateRefresh {
  presentedHash: string;
  newHash: string;
  newExpiresAt: Date;
  now: Date;
  /** Whether the user stream still allows this session (active, not cut off). */
  userAllows: boolean;
}

/**
 * Returns the events to append. A reuse returns [RefreshTokenReuseDetected, SessionRevoked]:
 * they must be recorded, and the caller then answers token_reused.
 */
export function decideRotate(state: Session, c: RotateRefresh): SessionEvent[] {
  if (state.status === 'none') throw new InvalidTokenError();
  const ids = { session_id: state.id, user_id: state.userId };
  if (state.status === 'revoked') throw new InvalidTokenError();
  if (c.presentedHash !== state.currentHash && state.previousHashes.has(c.presentedHash)) {
    // Presented no later than the rotation that retired it (lastUsedAt): a concurrent
    // refresh that lost the race and read after the winner's append, not a replay.
    if (c.presentedHash === state.previousHashes.last && c.now.getTime() <= state.lastUsedAt.getTime()) throw new InvalidTokenError();
    return [
      { type: 'RefreshTokenReuseDetected', data: ids },
      { type: 'SessionRevoked', data: { ...ids, reason: 'reuse_detected' } },
    ];
  }
  if (c.presentedHash !== state.currentHash) throw new InvalidTokenError();
  if (state.expiresAt.getTime() <= c.now.getTime()) throw new InvalidTokenError('the refresh token has expired');
  if (!c.userAllows) throw new InvalidTokenError();
  return [{
    type: 'RefreshTokenRotated',
    data: { ...ids, refresh_token_hash: c.newHash, expires_at: c.newExpiresAt.toISOString() },
  }];
}

export function decideRevoke(state: Session, reason: SessionRevokedReason): SessionEvent[] {
  if (state.status !== 'active') return [];
  return [{ type: 'SessionRevoked', data: { session_id: state.id, user_id: state.userId, reason } }];
}

/** A session whose refresh token is usable now (not revoked, not expired). */
export const isLive = (s: Session, now: Date): s is ExistingSession =>
  s.status === 'active' && s.expiresAt.getTime() > now.getTime();
