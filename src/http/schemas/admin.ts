/**
 * TypeBox schemas of /v1/admin/*. Positions (and revisions) travel as strings of decimal
 * digits: global positions are 64-bit and do not fit a JSON number.
 */
import { Type, type Static } from '@sinclair/typebox';
import { SETTINGS_BOUNDS } from '../../domain/settings/settings.js';
import { Nullable, User } from './common.js';

const DateTime = Type.String({ format: 'date-time' });
const Decimal = Type.String({ pattern: '^[0-9]+$', description: 'a non-negative integer as a string of decimal digits' });

/**
 * A position or revision given by a client; empty is the same as absent. Its upper bound
 * depends on the store (checked by the route).
 */
const decimalParam = (description: string) => Type.String({ pattern: '^[0-9]{0,20}$', description });

export const UserIdParams = Type.Object({ id: Type.String({ maxLength: 100 }) });
export const UserRoleParams = Type.Object({ id: Type.String({ maxLength: 100 }), role: Type.String({ maxLength: 100 }) });
export const UserSessionParams = Type.Object({ id: Type.String({ maxLength: 100 }), session_id: Type.String({ maxLength: 100 }) });
export const ActivityQuery = Type.Object({
  limit: Type.Optional(Type.Integer({ minimum: 1, maximum: 500, default: 100 })),
}, { additionalProperties: false });
export const StreamParams = Type.Object({ stream: Type.String({ maxLength: 200 }) });
export const ProjectionParams = Type.Object({ name: Type.String({ maxLength: 100 }) });

export const RoleBody = Type.Object({
  role: Type.String({ maxLength: 64, description: '1-64 characters: lower-case letters, digits, _ . : -' }),
}, { additionalProperties: false });

export const UsersQuery = Type.Object({
  query: Type.Optional(Type.String({ maxLength: 200, description: 'case-insensitive substring of email, phone, first or last name' })),
  limit: Type.Optional(Type.Integer({ minimum: 1, maximum: 500, default: 50 })),
  cursor: Type.Optional(Type.String({ maxLength: 500, description: '`next_cursor` of the previous page' })),
}, { additionalProperties: false });

export const AdminSession = Type.Object({
  id: Type.String(),
  created_at: DateTime,
  last_used_at: DateTime,
  expires_at: DateTime,
  user_agent: Nullable(Type.String()),
  ip: Nullable(Type.String()),
});

export const AdminUser = Type.Object({
  ...User.properties,
  sessions: Type.Array(AdminSession, { description: 'active sessions (not revoked, not expired), newest first' }),
});

export const UserPage = Type.Object({
  users: Type.Array(User),
  next_cursor: Nullable(Type.String()),
});

export const EventMetadata = Type.Object({
  correlation_id: Nullable(Type.String()),
  causation_id: Nullable(Type.String()),
  actor_id: Nullable(Type.String()),
  request_id: Nullable(Type.String()),
  ip: Nullable(Type.String()),
  user_agent: Nullable(Type.String()),
  schema_version: Nullable(Type.Integer()),
});

export const AdminEvent = Type.Object({
  id: Type.String(),
  stream_id: Type.String(),
  type: Type.String(),
  revision: Decimal,
  position: Decimal,
  occurred_at: DateTime,
  data: Type.Object({}, { additionalProperties: true, description: 'the allow-listed fields of the event (personal data null once shredded)' }),
  metadata: EventMetadata,
}, { description: 'an event, redacted for operators' });

export const StreamQuery = Type.Object({
  from: Type.Optional(decimalParam('a revision: events from it on (inclusive; default 0)')),
  limit: Type.Optional(Type.Integer({ minimum: 1, maximum: 1000, default: 100 })),
}, { additionalProperties: false });

export const StreamPage = Type.Object({
  events: Type.Array(AdminEvent),
  next_from: Nullable(Decimal),
});

export const EventsQuery = Type.Object({
  from: Type.Optional(decimalParam('a position: events strictly after it (none: from the start)')),
  limit: Type.Optional(Type.Integer({ minimum: 1, maximum: 1000, default: 100 })),
  types: Type.Optional(Type.String({ maxLength: 4000, description: 'comma-separated event types' })),
}, { additionalProperties: false });

export const EventsPage = Type.Object({
  events: Type.Array(AdminEvent),
  next_from: Nullable(Decimal),
});

export const SettingsView = Type.Object({
  access_token_ttl_seconds: Type.Integer(),
  refresh_token_ttl_seconds: Type.Integer(),
  sliding_access_tokens: Type.Boolean(),
  refresh_reuse_grace_seconds: Type.Integer({ description: 'seconds a rotated refresh token still gets a fresh pair of its session instead of counting as reuse' }),
  mfa_required_roles: Type.Array(Type.String(), {
    description: 'roles that access tokens carry only when the session was signed in with a second factor (e.g. ["admin"])',
  }),
});

const { access_token_ttl_seconds: accessBounds, refresh_token_ttl_seconds: refreshBounds, refresh_reuse_grace_seconds: graceBounds } = SETTINGS_BOUNDS;

export const SettingsPatch = Type.Object({
  access_token_ttl_seconds: Type.Optional(Type.Integer({ minimum: accessBounds.min, maximum: accessBounds.max })),
  refresh_token_ttl_seconds: Type.Optional(Type.Integer({ minimum: refreshBounds.min, maximum: refreshBounds.max })),
  sliding_access_tokens: Type.Optional(Type.Boolean()),
  refresh_reuse_grace_seconds: Type.Optional(Type.Integer({ minimum: graceBounds.min, maximum: graceBounds.max })),
  mfa_required_roles: Type.Optional(Type.Array(Type.String({ maxLength: 64 }), { maxItems: 32 })),
}, { additionalProperties: false });
export type SettingsPatchT = Static<typeof SettingsPatch>;

export const ProjectionView = Type.Object({
  name: Type.String(),
  kind: Type.Union([Type.Literal('sql'), Type.Literal('live')]),
  position: Decimal,
  head: Decimal,
  lag_events: Type.Integer(),
  lag_capped: Type.Boolean({ description: 'lag_events is a lower bound (counting stopped)' }),
  lag_ms: Type.Integer(),
  rebuilding: Type.Boolean({ description: 'a rebuild started by this instance is running' }),
  rebuild: Nullable(Type.Object({
    started_at: DateTime,
    applied: Type.Integer({ description: 'events replayed so far' }),
    position: Decimal,
  }, { description: 'progress of the rebuild this instance runs (position against head), null when none' })),
});

export const ReactorView = Type.Object({
  name: Type.String(),
  position: Decimal,
  active: Type.Boolean({ description: 'this instance holds the reactor\'s lease and delivers; the others stand by' }),
  failing: Type.Union([Type.Null(), Type.Object({
    position: Decimal, attempts: Type.Integer(), since: Type.String({ format: 'date-time' }), reason: Type.String(),
  })], { description: 'the event it keeps failing on (retried with backoff), or null' }),
});

export const ProjectionList = Type.Object({
  projections: Type.Array(ProjectionView),
  reactors: Type.Array(ReactorView, { description: 'side effects from the log (mail, SMS): never rebuilt, at least once' }),
  parked_events: Type.Integer({ description: 'events the read models could not apply and stepped over (GET /v1/admin/projections/parked)' }),
});

export const ParkedEventView = Type.Object({
  position: Decimal,
  event_id: Type.String(),
  stream_id: Type.String(),
  type: Type.String(),
  reason: Type.String(),
  parked_at: Type.String({ format: 'date-time' }),
});
export const ParkedList = Type.Object({ parked: Type.Array(ParkedEventView) });
export const ParkedParams = Type.Object({ position: Type.String({ pattern: '^[0-9]{1,19}$' }) });

export const Accepted = Type.Object({ name: Type.String(), status: Type.Literal('rebuilding') });

export const SigningKeyView = Type.Object({
  kid: Type.String({ description: 'RFC 7638 thumbprint, the `kid` of tokens and of the JWKS' }),
  alg: Type.String(),
  crv: Type.String(),
  x: Type.String({ description: 'the public key (JWK `x`)' }),
  status: Type.Union([Type.Literal('current'), Type.Literal('next'), Type.Literal('retired')]),
  created_at: DateTime,
  activated_at: Nullable(DateTime),
  retired_at: Nullable(DateTime),
});
export const SigningKeyList = Type.Object({ keys: Type.Array(SigningKeyView) });
export const KeyRotation = Type.Object({
  kid: Type.String({ description: 'the key that signs from now on' }),
  previous_kid: Nullable(Type.String()),
  next_kid: Type.String({ description: 'pre-published for the next rotation' }),
  retired_verify_seconds: Type.Integer({ description: 'how long the previous key stays published and verifies' }),
  keys: Type.Array(SigningKeyView),
});
