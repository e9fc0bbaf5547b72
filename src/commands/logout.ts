/**
 * Logout (one session, by refresh token or by the access token's session), LogoutAll,
 * and RevokeSession (a user ending one of their own sessions, or an admin one of anyone's).
 */
import { NotFoundError } from '../domain/errors.js';
import { sessionStream } from '../domain/events.js';
import type { EventContext } from '../ports/events.js';
import { SessionAggregate, retiredRecently } from '../domain/session/session.js';
import type { CommandDeps } from './handle.js';
import { load } from './load.js';
import { revokeSessions, wasIssued } from './sessions.js';

/** Revokes the session a refresh token belongs to; unknown or revoked tokens change nothing. */
export async function logoutByRefreshToken(deps: CommandDeps, refreshToken: string, ctx: EventContext): Promise<bigint | null> {
  const parsed = deps.secrets.parseRefreshToken(refreshToken);
  if (!parsed) return null;
  const { state } = await load(deps, sessionStream(parsed.sessionId), SessionAggregate);
  if (state.status !== 'active') return null;
  if (state.currentHash !== parsed.hash && !retiredRecently(state, parsed.hash) && !(await wasIssued(deps, parsed))) return null;
  return revokeSessions(deps, [state.id], 'logout', { ...ctx, actorId: ctx.actorId ?? state.userId });
}

export async function logoutSession(deps: CommandDeps, sessionId: string, ctx: EventContext): Promise<bigint | null> {
  return revokeSessions(deps, [sessionId], 'logout', ctx);
}

/** Ends every session of the user. `sessionIdsOfUser` must be caught up by the caller. */
export async function logoutAll(deps: CommandDeps, userId: string, ctx: EventContext): Promise<bigint | null> {
  const ids = await deps.sessions.activeSessionIds(userId);
  return revokeSessions(deps, ids, 'logout_all', ctx);
}

/** A user ends one of their own sessions; someone else's (or no) session is not found. */
export async function revokeOwnSession(deps: CommandDeps, userId: string, sessionId: string, ctx: EventContext): Promise<bigint | null> {
  return revokeSessionOf(deps, userId, sessionId, 'revoked_by_user', ctx);
}

/** An admin ends one session of a user (the admin is the actor); not that user's, or not active: not found. */
export async function revokeSessionByAdmin(deps: CommandDeps, userId: string, sessionId: string, ctx: EventContext): Promise<bigint | null> {
  return revokeSessionOf(deps, userId, sessionId, 'revoked_by_admin', ctx);
}

async function revokeSessionOf(
  deps: CommandDeps, userId: string, sessionId: string, reason: 'revoked_by_user' | 'revoked_by_admin', ctx: EventContext,
): Promise<bigint | null> {
  const { state } = await load(deps, sessionStream(sessionId), SessionAggregate);
  if (state.status !== 'active' || state.userId !== userId) throw new NotFoundError('session');
  return revokeSessions(deps, [sessionId], reason, ctx);
}
