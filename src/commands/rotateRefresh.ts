/**
 * RotateRefresh: decided on the session stream (and the user stream for status and
 * password-change cut-offs). The new token is appended with the expected revision, so of
 * N concurrent refreshes of one token exactly one wins. A loser, on any instance, is told
 * apart from theft by the session's events alone (decideRotate): it saw the token current
 * when it first read the stream, or arrived before the winning rotation was recorded; it
 * gets invalid_token and changes nothing. Within the reuse grace a rotated token gets a
 * fresh pair of the same session instead. Any other presentation of a rotated token is
 * theft: the session is revoked and the answer is token_reused.
 */
import { ConflictError, InvalidTokenError, TokenReusedError } from '../domain/errors.js';
import { sessionStream, userStream, type SessionEvent } from '../domain/events.js';
import { LOST_RACE_WINDOW_MS, decideRotate, retiredRecently, type Session } from '../domain/session/session.js';
import { userAllowsSession, type User } from '../domain/user/user.js';
import type { EventContext } from '../ports/events.js';
import type { ParsedRefreshToken } from '../ports/secrets.js';
import { SessionAggregate } from '../domain/session/session.js';
import { UserAggregate } from '../domain/user/user.js';
import { handle, type CommandDeps, type Handled } from './handle.js';
import { load, loadMany } from './load.js';
import { rolesFor, wasIssued, type IssuedTokens } from './sessions.js';

interface Rotation {
  presented: ParsedRefreshToken;
  /** Makes the new token, named by the revision its event will have (the one decided on + 1). */
  mint: (decidedOn: bigint | null) => string;
  newExpiresAt: Date;
  now: Date;
  graceSeconds: number;
  raceWindowMs: number;
}

export interface RotateOptions {
  /**
   * This instance answered the rotation of this very token before the request arrived
   * (the coordinator knows): a presentation now is a replay, not a race.
   */
  answeredHere?: boolean;
}

/** Attempts of a refresh decided on the streams: within the grace, parallel presenters each rotate in turn. */
const STORED_ATTEMPTS = 8;

export async function rotateRefresh(
  deps: CommandDeps, refreshToken: string, ctx: EventContext, options: RotateOptions = {},
): Promise<IssuedTokens> {
  const parsed = deps.secrets.parseRefreshToken(refreshToken);
  if (!parsed) throw new InvalidTokenError();
  // The token of the last decision made; the one appended, once handle returns.
  let next = { token: '', hash: '' };
  const settings = deps.settings();
  const rotation: Rotation = {
    presented: parsed, now: ctx.now, graceSeconds: settings.refresh_reuse_grace_seconds,
    mint: (decidedOn) => {
      next = deps.secrets.newRefreshToken(parsed.sessionId, (decidedOn ?? -1n) + 1n);
      return next.hash;
    },
    raceWindowMs: options.answeredHere === true ? 0 : LOST_RACE_WINDOW_MS,
    newExpiresAt: new Date(ctx.now.getTime() + settings.refresh_token_ttl_seconds * 1000),
  };
  const streamId = sessionStream(parsed.sessionId);
  const actor = (session: Session): EventContext => ({ ...ctx, actorId: session.status === 'none' ? null : session.userId });

  // Refreshes of one token that arrived on this instance while a winner's was under way are
  // answered by the coordinator (src/tokens/refresh.ts) before they get here; calls that do
  // meet here (from other instances too) are told apart by decideRotate.
  const { result, user } = (await rotateAsCached(deps, streamId, rotation, actor))
    ?? (await rotateAsStored(deps, streamId, rotation, actor));
  if (result.events.some((e) => e.type === 'RefreshTokenReuseDetected')) {
    deps.listener?.sessionsRevoked([parsed.sessionId]);
    throw new TokenReusedError();
  }
  const session = result.state;
  // `user` is the state the rotation was decided against (it allowed the session).
  if (session.status !== 'active' || user.status !== 'active') throw new InvalidTokenError();
  return {
    user, sessionId: session.id, refreshToken: next.token, refreshExpiresAt: rotation.newExpiresAt, position: result.position,
    amr: session.amr, ...rolesFor(deps, user, session.amr),
  };
}

type Decided = { result: Handled<Session, SessionEvent>; user: User };

/**
 * The usual refresh, decided without reading the store: on the session and its user as
 * this instance last saw them (it wrote or read both), when those say the presented token
 * is the current one and may be rotated. The append expects the session's revision and
 * the user stream's, so if either has moved since (another instance, a logout, a password
 * change, a disabled account) nothing is written and the refresh is decided again on what
 * the streams hold. Undefined: not decided here.
 */
async function rotateAsCached(
  deps: CommandDeps,
  streamId: string,
  rotation: Rotation,
  actor: (session: Session) => EventContext,
): Promise<Decided | undefined> {
  const cachedSession = deps.states?.get(streamId);
  const session = cachedSession?.state as Session | undefined;
  if (!cachedSession || session?.status !== 'active' || session.currentHash !== rotation.presented.hash) return undefined;
  const cachedUser = deps.states?.get(userStream(session.userId));
  const user = cachedUser?.state as User | undefined;
  if (!cachedUser || !user) return undefined;
  // Anything but a rotation (expired, cut off) is answered from the streams, not the cache.
  if (session.expiresAt.getTime() <= rotation.now.getTime() || !userAllowsSession(user, session.id, session.userRevision)) {
    return undefined;
  }
  try {
    const result = await handle(deps, streamId, SessionAggregate, (s, revision) => decideRotate(s, {
      ...rotation, presentedHash: rotation.presented.hash, newHash: rotation.mint(revision), userAllows: true,
    }), actor, {
      attempts: 1,
      start: { state: session, revision: cachedSession.revision },
      alsoExpect: [{ streamId: userStream(session.userId), revision: cachedUser.revision }],
    });
    return { result, user };
  } catch (e) {
    if (e instanceof ConflictError) return undefined; // one of them moved: decide on what the streams hold
    throw e;
  }
}

/** The refresh decided on the streams as they are: read (from the cached states on), decide, append. */
async function rotateAsStored(
  deps: CommandDeps,
  streamId: string,
  rotation: Rotation,
  actor: (session: Session) => EventContext,
): Promise<Decided> {
  const decidedAgainst: { user: User } = { user: { status: 'none' } };
  // Whether the token was current in the first state this request read from the store.
  let sawCurrent: boolean | undefined;
  let issuedBefore: boolean | undefined;
  // A session this instance has seen names its user: read both streams in one round trip.
  const seen = deps.states?.get(streamId)?.state as Session | undefined;
  let preloaded: { session: { state: Session; revision: bigint | null }; user: User } | undefined;
  if (seen && seen.status !== 'none') {
    const [session, user] = await loadMany(deps,
      { streamId, aggregate: SessionAggregate }, { streamId: userStream(seen.userId), aggregate: UserAggregate });
    preloaded = { session, user: user.state };
  }
  try {
    const result = await handle(deps, streamId, SessionAggregate, async (session, revision) => {
      const presentedHash = rotation.presented.hash;
      sawCurrent ??= session.status === 'active' && session.currentHash === presentedHash;
      let userAllows = false;
      if (session.status === 'active') {
        decidedAgainst.user = preloaded?.user ?? (await load(deps, userStream(session.userId), UserAggregate)).state;
        userAllows = userAllowsSession(decidedAgainst.user, session.id, session.userRevision);
        // A retired token older than the state keeps: read the event that issued it (once).
        if (session.currentHash !== presentedHash && !retiredRecently(session, presentedHash)) {
          issuedBefore ??= await wasIssued(deps, rotation.presented);
        }
      }
      return decideRotate(session, {
        ...rotation, presentedHash, newHash: rotation.mint(revision), userAllows, sawCurrent, ...(issuedBefore ? { issuedBefore } : {}),
      });
    }, actor, { attempts: STORED_ATTEMPTS, ...(preloaded ? { start: preloaded.session } : {}) });
    return { result, user: decidedAgainst.user };
  } catch (e) {
    // Kept losing to concurrent refreshes of the same session: nothing was written.
    if (e instanceof ConflictError) throw new InvalidTokenError();
    throw e;
  }
}
