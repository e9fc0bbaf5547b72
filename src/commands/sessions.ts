/** Starting and revoking sessions: shared by login, register, logout and the rest. */
import { sessionStream, type SessionRevokedReason } from '../domain/events.js';
import { decideRevoke, decideStart, issues } from '../domain/session/session.js';
import type { ExistingUser } from '../domain/user/user.js';
import type { Decoded, EventContext } from '../ports/events.js';
import type { ParsedRefreshToken } from '../ports/secrets.js';
import type { SessionEvent } from '../domain/events.js';
import { SessionAggregate } from '../domain/session/session.js';
import { PASSWORD_ONLY, tokenRoles } from '../domain/mfa/amr.js';
import { handle, later, type CommandDeps } from './handle.js';

/** What register, login and refresh give back; the HTTP layer adds the access token. */
export interface IssuedTokens {
  user: ExistingUser;
  sessionId: string;
  refreshToken: string;
  refreshExpiresAt: Date;
  position: bigint | null;
  /** How the session was signed in (RFC 8176): the access token's `amr`. */
  amr: readonly string[];
  /** The roles its access tokens carry: the user's, less those that need a second factor the session lacks. */
  roles: string[];
  /** The user's roles held back from the tokens for want of a second factor. */
  withheldRoles: string[];
  /** Set by a password sign-in that held roles back from a user with no second factor: they should enrol one. */
  mfaEnrolmentRequired?: true;
}

/** The token roles of a session signed in with `amr`, under the current settings. */
export function rolesFor(deps: Pick<CommandDeps, 'settings'>, user: ExistingUser, amr: readonly string[]): { roles: string[]; withheldRoles: string[] } {
  const { roles, withheld } = tokenRoles(user.roles, amr, deps.settings().mfa_required_roles);
  return { roles, withheldRoles: withheld };
}

export async function startSession(
  deps: CommandDeps, user: ExistingUser, ctx: EventContext, amr: readonly string[] = PASSWORD_ONLY,
): Promise<IssuedTokens> {
  const sessionId = deps.newId();
  // A session's first token is recorded by its first event: generation 0.
  const { token, hash } = deps.secrets.newRefreshToken(sessionId, 0n);
  const expiresAt = new Date(ctx.now.getTime() + deps.settings().refresh_token_ttl_seconds * 1000);
  const r = await handle(deps, sessionStream(sessionId), SessionAggregate, (state) =>
    decideStart(state, { sessionId, userId: user.id, refreshTokenHash: hash, expiresAt, userRevision: user.revision, amr }), ctx,
  { start: 'new' });
  return { user, sessionId, refreshToken: token, refreshExpiresAt: expiresAt, position: r.position, amr, ...rolesFor(deps, user, amr) };
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

/**
 * Whether the session issued this refresh token (and has retired it, when it is not the
 * current one): read from the one event that recorded it, the revision the token names.
 * A token from before generations is looked for in the whole stream.
 */
export async function wasIssued(deps: Pick<CommandDeps, 'store' | 'codec'>, token: ParsedRefreshToken): Promise<boolean> {
  const streamId = sessionStream(token.sessionId);
  const raw = token.generation === null
    ? await deps.store.readStream(streamId)
    : await deps.store.readStream(streamId, { fromRevision: token.generation, maxCount: 1 });
  const events = (await deps.codec.decodeAll(raw)) as Decoded<SessionEvent>[];
  return events.some((e) => issues(e, token.hash));
}
