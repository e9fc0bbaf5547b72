/**
 * RotateRefresh: decided on the session stream (and the user stream for status and
 * password-change cut-offs). The new token is appended with the expected revision, so of
 * N concurrent refreshes of one token exactly one wins; the losers get invalid_token and
 * change nothing. A token presented after it was rotated is theft: the session is revoked
 * and the answer is token_reused.
 */
import { InvalidTokenError, TokenReusedError } from '../domain/errors.js';
import { sessionStream, userStream } from '../domain/events.js';
import { decideRotate, type Session } from '../domain/session.js';
import { userAllowsSession, type User } from '../domain/user.js';
import type { EventContext } from '../infra/eventCodec.js';
import { SessionAggregate, UserAggregate } from './aggregates.js';
import { handle, load, loadMany, type CommandDeps } from './handle.js';
import type { IssuedTokens } from './sessions.js';

export async function rotateRefresh(deps: CommandDeps, refreshToken: string, ctx: EventContext): Promise<IssuedTokens> {
  const parsed = deps.secrets.parseRefreshToken(refreshToken);
  if (!parsed) throw new InvalidTokenError();
  const next = deps.secrets.newRefreshToken(parsed.sessionId);
  const newExpiresAt = new Date(ctx.now.getTime() + deps.settings().refresh_token_ttl_seconds * 1000);

  let result;
  const decidedAgainst: { user: User } = { user: { status: 'none' } };
  // A session this instance has seen names its user: read both streams in one round trip.
  const streamId = sessionStream(parsed.sessionId);
  const seen = deps.states?.get(streamId)?.state as Session | undefined;
  let preloaded: { session: { state: Session; revision: bigint | null }; user: User } | undefined;
  if (seen && seen.status !== 'none') {
    const [session, user] = await loadMany(deps,
      { streamId, aggregate: SessionAggregate }, { streamId: userStream(seen.userId), aggregate: UserAggregate });
    preloaded = { session, user: user.state };
  }
  try {
    result = await handle(deps, streamId, SessionAggregate, async (session) => {
      let userAllows = false;
      if (session.status === 'active') {
        decidedAgainst.user = preloaded?.user ?? (await load(deps, userStream(session.userId), UserAggregate)).state;
        userAllows = userAllowsSession(decidedAgainst.user, session.id, session.userRevision);
      }
      return decideRotate(session, { presentedHash: parsed.hash, newHash: next.hash, newExpiresAt, now: ctx.now, userAllows });
    }, (session) => ({ ...ctx, actorId: session.status === 'none' ? null : session.userId }),
    { retries: false, ...(preloaded ? { loaded: preloaded.session } : {}) });
  } catch (e) {
    // Lost the race to a concurrent refresh of the same token: nothing was written.
    if (e instanceof Error && (e as { code?: string }).code === 'conflict') throw new InvalidTokenError();
    throw e;
  }
  if (result.events.some((e) => e.type === 'RefreshTokenReuseDetected')) {
    deps.onSessionsRevoked?.([parsed.sessionId]);
    throw new TokenReusedError();
  }
  const session = result.state;
  // `user` is the state the rotation was decided against (it allowed the session).
  const user = decidedAgainst.user;
  if (session.status !== 'active' || user.status !== 'active') throw new InvalidTokenError();
  return { user, sessionId: session.id, refreshToken: next.token, refreshExpiresAt: newExpiresAt, position: result.position };
}
