/**
 * The session aggregate (`session-<id>`): refresh-token rotation with reuse detection
 * (RFC 9700 §4.14.2). Only hashes of refresh tokens are ever seen here.
 */
import { InvalidTokenError } from '../errors.js';
import type { Recorded, SessionEvent, SessionRevokedReason } from '../events.js';
import type { Aggregate } from '../decider.js';

/// State

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

/** How many of the newest retirements the state keeps, with their times (for lost races and the reuse grace). */
export const TIMED_RETIREMENTS = 16;

/**
 * How many of a stream's newest events, with its first, make its state (see
 * SessionAggregate.window): the rotations that retired the TIMED_RETIREMENTS newest tokens,
 * the one before them (it issued the oldest of those), and a reuse detection and a
 * revocation, which can only come last.
 */
export const SESSION_WINDOW = TIMED_RETIREMENTS + 3;

export interface ExistingSession {
  status: 'active' | 'revoked';
  id: string;
  userId: string;
  currentHash: string;
  /**
   * The newest retirements with their times, newest last (at most TIMED_RETIREMENTS). Older
   * retired tokens are not kept: a token names the revision of the event that issued it,
   * and the command reads that one event to tell a retired token from a forged one.
   */
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
      status: 'active', id: d.session_id, userId: d.user_id, currentHash: d.refresh_token_hash, recentRetirements: [],
      expiresAt: new Date(d.expires_at), createdAt: event.occurredAt, lastUsedAt: event.occurredAt, userRevision: BigInt(d.user_revision), revokedReason: null, amr: d.amr ?? ['pwd'],
    };
  }
  if (state.status === 'none') return state;
  switch (event.type) {
    case 'RefreshTokenRotated':
      return {
        ...state, currentHash: event.data.refresh_token_hash,
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

/**
 * Folds `event` into a state that does not hold the events just before it (a bounded read:
 * see SessionAggregate.window). A rotation then only says which token is current: the
 * tokens it and the skipped events retired are older than any the window keeps.
 */
export function resumeSession(state: Session, event: Recorded<SessionEvent>): Session {
  if (state.status === 'none' || event.type !== 'RefreshTokenRotated') return evolveSession(state, event);
  return {
    ...state, currentHash: event.data.refresh_token_hash, recentRetirements: [],
    expiresAt: new Date(event.data.expires_at), lastUsedAt: event.occurredAt,
  };
}

/** Whether `hash` is among the retirements the state keeps (the newest TIMED_RETIREMENTS). */
export const retiredRecently = (state: ExistingSession, hash: string): boolean =>
  state.recentRetirements.some((r) => r.hash === hash);

/** Whether `event` is the one that issued the refresh token whose hash is `hash`. */
export function issues(event: Recorded<SessionEvent> | undefined, hash: string): boolean {
  return (event?.type === 'SessionStarted' || event?.type === 'RefreshTokenRotated') && event.data.refresh_token_hash === hash;
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
   * The presented token is one this session issued and has retired, as the command found by
   * reading the event that issued it (the revision the token names). Not needed for the
   * current token or a recently retired one, which the state knows.
   */
  issuedBefore?: boolean;
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
  if (!retiredRecently(state, c.presentedHash) && c.issuedBefore !== true) throw new InvalidTokenError();
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

/**
 * A session's state is made of its first event and its SESSION_WINDOW newest: a cold read of
 * a session refreshed every five minutes for a month (8,640 events) reads 20 of them.
 */
export const SessionAggregate: Aggregate<Session, SessionEvent> = {
  initial: initialSession,
  evolve: evolveSession,
  window: { latest: SESSION_WINDOW, resume: resumeSession },
};
