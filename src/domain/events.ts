/**
 * Every event of authstream, as the domain sees it: plain values, personal data in the
 * clear. The event codec (src/infra/eventCodec.ts) encrypts the personal fields listed in
 * PERSONAL_FIELDS with the user's data key before anything reaches the event store, so a
 * destroyed key makes them unreadable everywhere (crypto-shredding).
 *
 * The `type` string equals the TypeScript type name; audit consumers rely on these names.
 */

export type Role = string;

export type SessionRevokedReason =
  | 'logout'
  | 'logout_all'
  | 'password_changed'
  | 'password_reset'
  | 'user_disabled'
  | 'user_erased'
  | 'reuse_detected'
  | 'revoked_by_user'
  | 'revoked_by_admin';

type Ev<T extends string, D> = { type: T; data: D };

/// user-<user_id>

export type UserRegistered = Ev<'UserRegistered', {
  user_id: string;
  email: string | null;
  phone: string | null;
  first_name: string;
  last_name: string;
  password_hash: string;
  roles: Role[];
}>;
export type ProfileUpdated = Ev<'ProfileUpdated', { user_id: string; first_name: string; last_name: string }>;
export type EmailChanged = Ev<'EmailChanged', { user_id: string; email: string | null }>;
export type PhoneChanged = Ev<'PhoneChanged', { user_id: string; phone: string | null }>;
/** Sessions of the user started before this event are revoked, except `kept_session_id`. */
export type PasswordChanged = Ev<'PasswordChanged', { user_id: string; password_hash: string; kept_session_id: string | null }>;
export type RoleGranted = Ev<'RoleGranted', { user_id: string; role: Role }>;
export type RoleRevoked = Ev<'RoleRevoked', { user_id: string; role: Role }>;
export type UserDisabled = Ev<'UserDisabled', { user_id: string }>;
export type UserEnabled = Ev<'UserEnabled', { user_id: string }>;
export type UserErased = Ev<'UserErased', { user_id: string }>;

/// Recovery and verification (user-<user_id>). A token or code is never in an event: only
/// its keyed hash (infra/secrets.ts). `request_id` names the request; a newer request of
/// the same purpose voids the older one.

export type ResetChannel = 'email' | 'phone';
export type PasswordResetRequested = Ev<'PasswordResetRequested', {
  user_id: string;
  request_id: string;
  /** Where the token goes: a link by email, a 6-digit code by SMS. */
  channel: ResetChannel;
  token_hash: string;
  expires_at: string; // ISO-8601
}>;
/** The password set through a reset: every session of the user ends. */
export type PasswordReset = Ev<'PasswordReset', { user_id: string; request_id: string; password_hash: string }>;
export type EmailVerificationRequested = Ev<'EmailVerificationRequested', {
  user_id: string; request_id: string; token_hash: string; expires_at: string;
}>;
export type EmailVerified = Ev<'EmailVerified', { user_id: string; request_id: string | null }>;
export type PhoneVerificationRequested = Ev<'PhoneVerificationRequested', {
  user_id: string; request_id: string; token_hash: string; expires_at: string;
}>;
export type PhoneVerified = Ev<'PhoneVerified', { user_id: string; request_id: string | null }>;
/** A wrong token or code presented for a pending request (each request allows a few). */
export type VerificationFailed = Ev<'VerificationFailed', { user_id: string; request_id: string }>;

export type RecoveryEvent =
  | PasswordResetRequested | PasswordReset | EmailVerificationRequested | EmailVerified
  | PhoneVerificationRequested | PhoneVerified | VerificationFailed;

export type UserEvent =
  | UserRegistered | ProfileUpdated | EmailChanged | PhoneChanged | PasswordChanged
  | RoleGranted | RoleRevoked | UserDisabled | UserEnabled | UserErased | RecoveryEvent;

/// session-<session_id>

export type SessionStarted = Ev<'SessionStarted', {
  session_id: string;
  user_id: string;
  /** SHA-256 of the refresh token, base64url. A secret: never shown by admin views. */
  refresh_token_hash: string;
  expires_at: string; // ISO-8601
  /** Revision of the user stream this login was decided against. */
  user_revision: string;
}>;
export type RefreshTokenRotated = Ev<'RefreshTokenRotated', {
  session_id: string;
  user_id: string;
  refresh_token_hash: string;
  expires_at: string;
  /** Present (true) when the presented token had been rotated already, within the reuse grace. */
  within_grace?: true;
}>;
export type RefreshTokenReuseDetected = Ev<'RefreshTokenReuseDetected', { session_id: string; user_id: string }>;
export type SessionRevoked = Ev<'SessionRevoked', { session_id: string; user_id: string; reason: SessionRevokedReason }>;

export type SessionEvent = SessionStarted | RefreshTokenRotated | RefreshTokenReuseDetected | SessionRevoked;

/// identifier-<hmac>: one reservation stream per normalised email or phone
///
/// Streams named by an identifier's hash (these and logins-<hmac>) name their user only
/// under the user's data key (see PSEUDONYMOUS below): erasure unlinks them. Read back
/// after an erasure, `user_id` is null.

export type IdentifierKind = 'email' | 'phone';
export type IdentifierClaimed = Ev<'IdentifierClaimed', { user_id: string; kind: IdentifierKind }>;
export type IdentifierReleased = Ev<'IdentifierReleased', { user_id: string; kind: IdentifierKind }>;
export type IdentifierEvent = IdentifierClaimed | IdentifierReleased;

/// logins-<hmac>: password checks per identifier (no password, no raw identifier)

/** Where a password was checked: login, the OAuth password grant, a password change, an erasure. */
export type PasswordCheckVia = 'login' | 'oauth' | 'password_change' | 'erasure';
/**
 * A password check reserved its place in the throttle before hashing: it counts against
 * the limit until it is settled (LoginFailed or LoginAttemptSucceeded), or for
 * PENDING_ATTEMPT_MS if it never is (a crash).
 */
export type LoginAttemptStarted = Ev<'LoginAttemptStarted', {
  attempt_id: string;
  kind: IdentifierKind;
  via: PasswordCheckVia;
  /** The identifier's holder when the check began; null for an unknown identifier. */
  user_id?: string | null;
}>;
export type LoginAttemptSucceeded = Ev<'LoginAttemptSucceeded', { attempt_id: string; kind: IdentifierKind; user_id?: string }>;
export type LoginFailedReason = 'unknown_identifier' | 'wrong_password' | 'account_disabled';
export type LoginFailed = Ev<'LoginFailed', {
  /** null when the identifier belongs to no user. */
  user_id: string | null;
  kind: IdentifierKind;
  reason: LoginFailedReason;
  /** The attempt this settles (absent on failures recorded before attempts were). */
  attempt_id?: string;
}>;
export type LoginEvent = LoginAttemptStarted | LoginAttemptSucceeded | LoginFailed;

/// recovery-<hmac>: password resets asked for an identifier, known or not (no user named)

/** Someone asked for a password reset for this identifier; the recovery reactor looks for its holder. */
export type PasswordResetAsked = Ev<'PasswordResetAsked', { kind: IdentifierKind }>;

/// messages-<user_id>: what became of each message the messages reactor was asked to send

export type MessagePurpose = 'password_reset' | 'email_verification' | 'phone_verification';
export type MessageChannel = 'email' | 'sms';
export type MessageSent = Ev<'MessageSent', {
  user_id: string;
  /** The id of the event that asked for the message. */
  message_id: string;
  purpose: MessagePurpose;
  channel: MessageChannel;
  attempt: number;
}>;
export type MessageFailed = Ev<'MessageFailed', {
  user_id: string; message_id: string; purpose: MessagePurpose; channel: MessageChannel; attempt: number;
  /** Retried later unless permanent. Never holds an address, a token or the text. */
  reason: string;
  permanent: boolean;
}>;
export type MessageSkippedReason = 'superseded' | 'expired' | 'used' | 'erased' | 'disabled' | 'no_address' | 'not_delivered';
export type MessageSkipped = Ev<'MessageSkipped', {
  user_id: string; message_id: string; purpose: MessagePurpose; reason: MessageSkippedReason;
}>;
export type MessageEvent = MessageSent | MessageFailed | MessageSkipped;

/// webhook-<webhook_id>: an integrator's endpoint (no personal data; the secret sealed with a server key)

export type WebhookDisabledReason = 'admin' | 'failing';
export type WebhookCreated = Ev<'WebhookCreated', {
  webhook_id: string;
  url: string;
  /** Event type names, or ["*"] for all. */
  event_types: string[];
  description: string;
  /** The signing secret (whsec_…), sealed with a key derived from the master key. A secret: shown nowhere. */
  secret_sealed: string;
}>;
export type WebhookUpdated = Ev<'WebhookUpdated', { webhook_id: string; url: string; event_types: string[]; description: string }>;
export type WebhookDisabled = Ev<'WebhookDisabled', { webhook_id: string; reason: WebhookDisabledReason }>;
export type WebhookEnabled = Ev<'WebhookEnabled', { webhook_id: string }>;
export type WebhookDeleted = Ev<'WebhookDeleted', { webhook_id: string }>;
/** Deliver again every matching event after `after_position` (an admin's replay). */
export type WebhookReplayRequested = Ev<'WebhookReplayRequested', { webhook_id: string; after_position: string }>;
export type WebhookEvent = WebhookCreated | WebhookUpdated | WebhookDisabled | WebhookEnabled | WebhookDeleted | WebhookReplayRequested;

/// settings

export interface SettingsValues {
  access_token_ttl_seconds: number;
  refresh_token_ttl_seconds: number;
  sliding_access_tokens: boolean;
  /** Seconds a rotated refresh token may still be presented for a fresh pair (0: never). */
  refresh_reuse_grace_seconds: number;
}
export type SettingsChanged = Ev<'SettingsChanged', Partial<SettingsValues>>;
export type SettingsEvent = SettingsChanged;

/// parked-<position>: an event the read models could not apply, stepped over, and what an
/// admin did about it (no personal data)

export type EventParked = Ev<'EventParked', {
  /** The parked event's global position (decimal digits), id, type and stream. */
  position: string;
  event_id: string;
  event_type: string;
  stream_id: string;
  /** The error, with quoted values blanked. */
  reason: string;
}>;
/** An admin retried a parked event (applied: it went through) or skipped it. */
export type ParkedEventResolved = Ev<'ParkedEventResolved', { position: string; event_id: string; outcome: 'applied' | 'skipped' }>;
export type OperationsEvent = EventParked | ParkedEventResolved;

export type DomainEvent =
  | UserEvent | SessionEvent | IdentifierEvent | LoginEvent | SettingsEvent | OperationsEvent | PasswordResetAsked | MessageEvent
  | WebhookEvent;
export type EventType = DomainEvent['type'];

/** A domain event as read back from the store. */
export type Recorded<E extends DomainEvent = DomainEvent> = E & {
  id: string;
  streamId: string;
  revision: bigint;
  position: bigint;
  occurredAt: Date;
  /** When the store wrote it, by the store's clock (see ports/eventStore.ts). */
  recordedAt: Date;
};

export const EVENT_TYPES: readonly EventType[] = [
  'UserRegistered', 'ProfileUpdated', 'EmailChanged', 'PhoneChanged', 'PasswordChanged',
  'RoleGranted', 'RoleRevoked', 'UserDisabled', 'UserEnabled', 'UserErased',
  'SessionStarted', 'RefreshTokenRotated', 'RefreshTokenReuseDetected', 'SessionRevoked',
  'IdentifierClaimed', 'IdentifierReleased', 'LoginFailed', 'SettingsChanged',
  'LoginAttemptStarted', 'LoginAttemptSucceeded', 'EventParked', 'ParkedEventResolved',
  'PasswordResetRequested', 'PasswordReset', 'EmailVerificationRequested', 'EmailVerified',
  'PhoneVerificationRequested', 'PhoneVerified', 'VerificationFailed', 'PasswordResetAsked',
  'MessageSent', 'MessageFailed', 'MessageSkipped',
  'WebhookCreated', 'WebhookUpdated', 'WebhookDisabled', 'WebhookEnabled', 'WebhookDeleted', 'WebhookReplayRequested',
];

/**
 * Personal data per event type: encrypted with the user's data key. Everything else in
 * `data` stays readable for audit (ids, roles, reasons, times). Password hashes are
 * shredded with the rest.
 */
export const PERSONAL_FIELDS: { readonly [T in EventType]: readonly string[] } = {
  UserRegistered: ['email', 'phone', 'first_name', 'last_name', 'password_hash'],
  ProfileUpdated: ['first_name', 'last_name'],
  EmailChanged: ['email'],
  PhoneChanged: ['phone'],
  PasswordChanged: ['password_hash'],
  RoleGranted: [], RoleRevoked: [], UserDisabled: [], UserEnabled: [], UserErased: [],
  SessionStarted: [], RefreshTokenRotated: [], RefreshTokenReuseDetected: [], SessionRevoked: [],
  IdentifierClaimed: ['user_id'], IdentifierReleased: ['user_id'], LoginFailed: ['user_id'], SettingsChanged: [],
  LoginAttemptStarted: ['user_id'], LoginAttemptSucceeded: ['user_id'], EventParked: [], ParkedEventResolved: [],
  PasswordResetRequested: [], PasswordReset: ['password_hash'], EmailVerificationRequested: [], EmailVerified: [],
  PhoneVerificationRequested: [], PhoneVerified: [], VerificationFailed: [], PasswordResetAsked: [],
  MessageSent: [], MessageFailed: [], MessageSkipped: [],
  WebhookCreated: [], WebhookUpdated: [], WebhookDisabled: [], WebhookEnabled: [], WebhookDeleted: [], WebhookReplayRequested: [],
};

/**
 * Events of the streams named by an identifier's hash. Their user id is personal data
 * (with the identifier it would tie an erased user's history to an email or phone), and
 * so are their correlation, causation, actor and request ids (each would tie the event to
 * the same command's events on the user's own streams): all are sealed with the user's
 * key, and the stored event names the user only through the key's reference (`holder`),
 * which erasure destroys with the key. Such an event with no user keeps its ids in clear.
 */
export const PSEUDONYMOUS: ReadonlySet<EventType> = new Set<EventType>([
  'IdentifierClaimed', 'IdentifierReleased', 'LoginFailed', 'LoginAttemptStarted', 'LoginAttemptSucceeded',
]);

/**
 * What an admin view may show of each event's data: an allow-list. Secrets (password and
 * refresh-token hashes) are on no list.
 */
export const VISIBLE_FIELDS: { readonly [T in EventType]: readonly string[] } = {
  UserRegistered: ['user_id', 'email', 'phone', 'first_name', 'last_name', 'roles'],
  ProfileUpdated: ['user_id', 'first_name', 'last_name'],
  EmailChanged: ['user_id', 'email'],
  PhoneChanged: ['user_id', 'phone'],
  PasswordChanged: ['user_id', 'kept_session_id'],
  RoleGranted: ['user_id', 'role'],
  RoleRevoked: ['user_id', 'role'],
  UserDisabled: ['user_id'],
  UserEnabled: ['user_id'],
  UserErased: ['user_id'],
  SessionStarted: ['session_id', 'user_id', 'expires_at', 'user_revision'],
  RefreshTokenRotated: ['session_id', 'user_id', 'expires_at', 'within_grace'],
  RefreshTokenReuseDetected: ['session_id', 'user_id'],
  SessionRevoked: ['session_id', 'user_id', 'reason'],
  IdentifierClaimed: ['user_id', 'kind'],
  IdentifierReleased: ['user_id', 'kind'],
  LoginFailed: ['user_id', 'kind', 'reason', 'attempt_id'],
  LoginAttemptStarted: ['attempt_id', 'kind', 'via', 'user_id'],
  LoginAttemptSucceeded: ['attempt_id', 'kind', 'user_id'],
  EventParked: ['position', 'event_id', 'event_type', 'stream_id', 'reason'],
  ParkedEventResolved: ['position', 'event_id', 'outcome'],
  PasswordResetRequested: ['user_id', 'request_id', 'channel', 'expires_at'],
  PasswordReset: ['user_id', 'request_id'],
  EmailVerificationRequested: ['user_id', 'request_id', 'expires_at'],
  EmailVerified: ['user_id', 'request_id'],
  PhoneVerificationRequested: ['user_id', 'request_id', 'expires_at'],
  PhoneVerified: ['user_id', 'request_id'],
  VerificationFailed: ['user_id', 'request_id'],
  PasswordResetAsked: ['kind'],
  MessageSent: ['user_id', 'message_id', 'purpose', 'channel', 'attempt'],
  MessageFailed: ['user_id', 'message_id', 'purpose', 'channel', 'attempt', 'reason', 'permanent'],
  MessageSkipped: ['user_id', 'message_id', 'purpose', 'reason'],
  WebhookCreated: ['webhook_id', 'url', 'event_types', 'description'],
  WebhookUpdated: ['webhook_id', 'url', 'event_types', 'description'],
  WebhookDisabled: ['webhook_id', 'reason'],
  WebhookEnabled: ['webhook_id'],
  WebhookDeleted: ['webhook_id'],
  WebhookReplayRequested: ['webhook_id', 'after_position'],
  SettingsChanged: ['access_token_ttl_seconds', 'refresh_token_ttl_seconds', 'sliding_access_tokens', 'refresh_reuse_grace_seconds'],
};

/** The user whose data key protects an event's personal data (and its ip/user agent). */
export function subjectOf(event: DomainEvent): string | null {
  switch (event.type) {
    case 'SettingsChanged':
    case 'EventParked':
    case 'ParkedEventResolved':
    case 'PasswordResetAsked':
    case 'WebhookCreated':
    case 'WebhookUpdated':
    case 'WebhookDisabled':
    case 'WebhookEnabled':
    case 'WebhookDeleted':
    case 'WebhookReplayRequested':
      return null;
    default:
      return event.data.user_id ?? null;
  }
}

export const isEventType = (type: string): type is EventType => (EVENT_TYPES as readonly string[]).includes(type);

/// Streams

export const userStream = (userId: string): string => `user-${userId}`;
export const sessionStream = (sessionId: string): string => `session-${sessionId}`;
/** `hmac` is the keyed hash of the normalised identifier (see src/infra/secrets.ts). */
export const identifierStream = (hmac: string): string => `identifier-${hmac}`;
export const loginsStream = (hmac: string): string => `logins-${hmac}`;
export const recoveryStream = (hmac: string): string => `recovery-${hmac}`;
/** The identifier's hash a hashed stream (`identifier-`, `logins-`, `recovery-`) is named by. */
export const hashOfStream = (streamId: string): string => streamId.slice(streamId.indexOf('-') + 1);
export const messagesStream = (userId: string): string => `messages-${userId}`;
export const webhookStream = (webhookId: string): string => `webhook-${webhookId}`;
export const SETTINGS_STREAM = 'settings';
export const parkedStream = (position: bigint): string => `parked-${position}`;
