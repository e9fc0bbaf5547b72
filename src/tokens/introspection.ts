/**
 * RFC 7662 introspection of refresh tokens, decided on the session and user streams (the
 * same tests a refresh makes), never on a read model. Access tokens are introspected by
 * verifying them (tokens/ access-token verification, revocations included).
 */
import { load } from '../commands/load.js';
import type { CommandDeps } from '../commands/handle.js';
import { sessionStream, userStream } from '../domain/events.js';
import { refreshTokenUsable, SessionAggregate } from '../domain/session/session.js';
import { userAllowsSession, UserAggregate } from '../domain/user/user.js';

export interface RefreshIntrospection {
  active: true;
  token_type: 'refresh_token';
  sub: string;
  sid: string;
  iat: number;
  exp: number;
}

const seconds = (d: Date): number => Math.floor(d.getTime() / 1000);

/** The token's claims while it would be accepted by a refresh now; null otherwise. */
export async function introspectRefreshToken(
  deps: Pick<CommandDeps, 'store' | 'codec' | 'states'>,
  parsed: { sessionId: string; hash: string },
  now = new Date(),
): Promise<RefreshIntrospection | null> {
  const { state: session } = await load(deps, sessionStream(parsed.sessionId), SessionAggregate);
  if (!refreshTokenUsable(session, parsed.hash, now)) return null;
  const { state: user } = await load(deps, userStream(session.userId), UserAggregate);
  if (!userAllowsSession(user, session.id, session.userRevision)) return null;
  return {
    active: true, token_type: 'refresh_token',
    sub: session.userId, sid: session.id, iat: seconds(session.lastUsedAt), exp: seconds(session.expiresAt),
  };
}
