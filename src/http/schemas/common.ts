/**
 * TypeBox schemas of the public API: the single source for validation, serialisation,
 * types and the OpenAPI document. Request bodies reject unknown fields.
 */
import { Type, type Static, type TSchema } from '@sinclair/typebox';

const Uuid = Type.String({ format: 'uuid' });
const DateTime = Type.String({ format: 'date-time' });

export const Nullable = <T extends TSchema>(t: T) => Type.Union([t, Type.Null()]);

export const Problem = Type.Object({
  type: Type.String(),
  title: Type.String(),
  status: Type.Integer(),
  detail: Type.String(),
  code: Type.String(),
  instance: Type.Optional(Type.String()),
  errors: Type.Optional(Type.Array(Type.Object({ path: Type.String(), message: Type.String() }))),
}, { $id: 'Problem', description: 'RFC 9457 problem details' });

export const User = Type.Object({
  id: Uuid,
  email: Nullable(Type.String()),
  phone: Nullable(Type.String()),
  first_name: Type.String(),
  last_name: Type.String(),
  roles: Type.Array(Type.String()),
  status: Type.Union([Type.Literal('active'), Type.Literal('disabled'), Type.Literal('erased')]),
  email_verified: Type.Boolean(),
  phone_verified: Type.Boolean(),
  created_at: DateTime,
  updated_at: DateTime,
}, { $id: 'User' });
export type UserT = Static<typeof User>;

export const TokenResponse = Type.Object({
  access_token: Type.String(),
  token_type: Type.Literal('Bearer'),
  expires_in: Type.Integer(),
  refresh_token: Type.String(),
  refresh_expires_in: Type.Integer(),
  session_id: Uuid,
  user: User,
  mfa_enrolment_required: Type.Optional(Type.Boolean({
    description: 'present (true) on a password sign-in that held roles back because they need a second factor and the user has none: enrol one, then sign in again',
  })),
  withheld_roles: Type.Optional(Type.Array(Type.String(), {
    description: 'the user\'s roles these tokens do not carry: they need a session signed in with a second factor (setting mfa_required_roles)',
  })),
}, { $id: 'TokenResponse' });
export type TokenResponseT = Static<typeof TokenResponse>;

const Password = Type.String({ description: '8 to 256 characters, not a common password' });
const Name = Type.String({ maxLength: 1000, description: 'trimmed, then at most 100 characters (the schema allows 1000 before trimming)' });
const Email = Type.String({ maxLength: 1000 });
const Phone = Type.String({ maxLength: 100, description: 'international format; normalised to E.164' });

export const RegisterBody = Type.Object({
  email: Type.Optional(Email),
  phone: Type.Optional(Phone),
  password: Password,
  first_name: Type.Optional(Name),
  last_name: Type.Optional(Name),
}, { additionalProperties: false });

export const LoginBody = Type.Object({
  email: Type.Optional(Email),
  phone: Type.Optional(Phone),
  identifier: Type.Optional(Type.String({ maxLength: 1000, description: 'an email or a phone number' })),
  password: Type.String({ maxLength: 10_000 }),
}, { additionalProperties: false });

export const RefreshBody = Type.Object({ refresh_token: Type.String({ maxLength: 1000 }) }, { additionalProperties: false });
export const LogoutBody = Type.Object({ refresh_token: Type.Optional(Type.String({ maxLength: 1000 })) }, { additionalProperties: false });

export const PatchMeBody = Type.Object({
  first_name: Type.Optional(Name),
  last_name: Type.Optional(Name),
  email: Type.Optional(Nullable(Email)),
  phone: Type.Optional(Nullable(Phone)),
}, { additionalProperties: false });

export const ChangePasswordBody = Type.Object({
  current_password: Type.String({ maxLength: 10_000 }),
  new_password: Password,
}, { additionalProperties: false });

export const EraseMeBody = Type.Object({ password: Type.String({ maxLength: 10_000 }) }, { additionalProperties: false });

export const SessionView = Type.Object({
  id: Uuid,
  created_at: DateTime,
  last_used_at: DateTime,
  expires_at: DateTime,
  user_agent: Nullable(Type.String()),
  ip: Nullable(Type.String()),
  current: Type.Boolean(),
}, { $id: 'Session' });

export const SessionList = Type.Object({ sessions: Type.Array(SessionView) });

export const ActivityEvent = Type.Object({
  type: Type.String(),
  occurred_at: DateTime,
  session_id: Type.Optional(Nullable(Uuid)),
  ip: Type.Optional(Nullable(Type.String())),
  user_agent: Type.Optional(Nullable(Type.String())),
});
export const ActivityList = Type.Object({ events: Type.Array(ActivityEvent) });

export const SessionIdParams = Type.Object({ id: Type.String({ maxLength: 100 }) });

const PROBLEM_DESCRIPTIONS: Record<number, string> = {
  400: 'validation_failed (also malformed JSON) or weak_password',
  401: 'unauthorized, invalid_token, token_reused or invalid_credentials',
  403: 'forbidden or account_disabled',
  404: 'not_found',
  409: 'identifier_taken or conflict',
  413: 'payload_too_large: the body is over 64 KiB',
  415: 'unsupported_media_type: the body is not application/json',
  429: 'rate_limited, with Retry-After',
  503: 'unavailable: a backing store is down',
};

/** Standard error responses: RFC 9457 problem details, documented and serialised as such. */
export const errorResponses = (...statuses: number[]) =>
  Object.fromEntries(statuses.map((s) => [s, {
    description: `Problem details (RFC 9457): ${PROBLEM_DESCRIPTIONS[s] ?? 'error'}`,
    content: { 'application/problem+json': { schema: Type.Ref(Problem) } },
  }]));
