/** Domain and read-model values → API shapes (snake_case, ISO-8601 times). */
import type { ExistingUser } from '../domain/user/user.js';
import type { IssuedTokens } from '../commands/sessions.js';
import type { FastifyInstance } from 'fastify';
import type { ActivityView } from '../projections/activity/queries.js';
import type { SessionView } from '../projections/sessions/queries.js';
import type { UserView } from '../projections/users/queries.js';
import type { TokenSubject } from '../tokens/accessTokens.js';
import type { TokenResponseT, UserT } from './schemas/common.js';

/**
 * Views of read-model users, kept per object: the user cache hands out one immutable
 * UserView per user version, so GET /v1/me renders each version once.
 */
const rendered = new WeakMap<UserView | ExistingUser, UserT>();

export function userView(u: UserView | ExistingUser): UserT {
  let view = rendered.get(u);
  if (!view) {
    view = renderUser(u);
    Object.freeze(view.roles);
    Object.freeze(view); // shared between answers: a caller that tried to change it would throw
    rendered.set(u, view);
  }
  return view;
}

function renderUser(u: UserView | ExistingUser): UserT {
  return {
    id: u.id,
    email: u.email,
    phone: u.phone,
    first_name: u.firstName,
    last_name: u.lastName,
    roles: [...u.roles],
    status: u.status,
    email_verified: u.emailVerified,
    phone_verified: u.phoneVerified,
    created_at: u.createdAt.toISOString(),
    updated_at: u.updatedAt.toISOString(),
  };
}

/** What an access token for freshly issued tokens is signed for. */
export const subjectOf = (issued: IssuedTokens): TokenSubject => ({
  userId: issued.user.id, sessionId: issued.sessionId, roles: issued.roles,
  userRevision: issued.user.revision, sessionExpiresAt: issued.refreshExpiresAt, amr: issued.amr,
});

export function tokenResponse(app: FastifyInstance, issued: IssuedTokens, now: Date): TokenResponseT {
  const { token, expiresIn } = app.signAccessToken(subjectOf(issued));
  return {
    access_token: token,
    token_type: 'Bearer',
    expires_in: expiresIn,
    refresh_token: issued.refreshToken,
    refresh_expires_in: Math.max(0, Math.round((issued.refreshExpiresAt.getTime() - now.getTime()) / 1000)),
    session_id: issued.sessionId,
    user: userView(issued.user),
    ...(issued.withheldRoles.length > 0 ? { withheld_roles: issued.withheldRoles } : {}),
    ...(issued.mfaEnrolmentRequired ? { mfa_enrolment_required: true } : {}),
  };
}

/** A session as its owner and admins see it (no token material). */
export function sessionView(s: SessionView) {
  return {
    id: s.id,
    created_at: s.createdAt.toISOString(),
    last_used_at: s.lastUsedAt.toISOString(),
    expires_at: s.expiresAt.toISOString(),
    user_agent: s.userAgent,
    ip: s.ip,
  };
}

/** One entry of a user's audit trail (GET /v1/me/activity, GET /v1/admin/users/:id/activity). */
export function activityView(e: ActivityView) {
  return { type: e.type, occurred_at: e.occurredAt.toISOString(), session_id: e.sessionId, ip: e.ip, user_agent: e.userAgent };
}
