/** Starting and revoking sessions: shared by login, register, logout and the rest. */
import { sessionStream, type SessionRevokedReason } from '../domain/events.js';
import { decideRevoke, decideStart } from '../domain/session/session.js';
import type { ExistingUser } from '../domain/user/user.js';
import type { EventContext } from '../ports/events.js';
import { SessionAggregate } from '../domain/session/session.js';
import { handle, later, type CommandDeps } from './handle.js';

/** What register, login and refresh give back; the HTTP layer adds the access token. */
export interface IssuedTokens {
  user: ExistingUser;
  sessionId: string;
  refreshToken: string;
  refreshExpiresAt: Date;
  position: bigint | null;
}

export async function startSession(deps: CommandDeps, user: ExistingUser, ctx: EventContext): Promise<IssuedTokens> {
  const sessionId = deps.newId();
  const { token, hash } = deps.secrets.newRefreshToken(sessionId);
  const expiresAt = new Date(ctx.now.getTime() + deps.settings().refresh_token_ttl_seconds * 1000);
  const r = await handle(deps, sessionStream(sessionId), SessionAggregate, (state) =>
    decideStart(state, { sessionId, userId: user.id, refreshTokenHash: hash, expiresAt, userRevision: user.revision }), ctx,
  { start: 'new' });
  return { user, sessionId, refreshToken: token, refreshExpiresAt: expiresAt, position: r.position };
}

/** Revokes sessions (already revoked ones are left as they are). Returns the last position. */
export async function revokeSessions(
  deps: CommandDeps,
  sessionIds: readonly string[],
  reason: SessionRevokedReason,
  ctx: EventContext,
): Promise<bigint | null> {
  let position: bigint | null = null;
  const revoked: string[] = [];
  for (const id of sessionIds) {
    const r = await handle(deps, sessionStream(id), SessionAggregate, (state) => decideRevoke(state, reason), ctx);
    if (r.events.length > 0) revoked.push(id);
    position = later(position, r.position);
  }
  if (revoked.length > 0) deps.listener?.sessionsRevoked(revoked);
  return position;
}
