/**
 * Every event of authstream, as the domain sees it: plain values, personal data in the
 * clear. The event codec (src/infra/eventCodec.ts) encrypts the personal fields listed in
 * PERSONAL_FIELDS with the user's data key before anything reaches the event store, so a
 * destroyed key makes them unreadable everywhere (crypto-shredding).
 *
 * The `type` string equals the TypeScript type name; audit consumers rely on these names.
 * The types are declared per kind of stream in events/ (user, session, identifier,
 * operations); this file gathers them with what holds for all: the personal and visible
 * fields of each type, the stream names.
 */
import type { UserEvent } from './events/user.js';
import type { SessionEvent } from './events/session.js';
import type { IdentifierEvent, LoginEvent, PasswordResetAsked } from './events/identifier.js';
import type { MessageEvent, OperationsEvent, SettingsEvent, WebhookEvent } from './events/operations.js';
import type { MfaEvent } from './events/mfa.js';

export type * from './events/user.js';
export type * from './events/session.js';
export type * from './events/identifier.js';
export type * from './events/operations.js';
export type * from './events/mfa.js';

export type DomainEvent =
  | UserEvent | SessionEvent | IdentifierEvent | LoginEvent | SettingsEvent | OperationsEvent | PasswordResetAsked | MessageEvent
  | WebhookEvent | MfaEvent;
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
  'UserImported', 'PasswordUpgraded',
  'TotpEnrolmentStarted', 'MfaFactorAdded', 'MfaFactorRemoved', 'MfaReset', 'RecoveryCodesGenerated', 'RecoveryCodesRevoked',
  'MfaChallengeIssued', 'MfaVerified', 'MfaFailed',
];

/**
 * Personal data per event type: encrypted with the user's data key. Everything else in
 * `data` stays readable for audit (ids, roles, reasons, times). Password hashes are
 * shredded with the rest.
 */
export const PERSONAL_FIELDS: { readonly [T in EventType]: readonly string[] } = {
  UserRegistered: ['email', 'phone', 'first_name', 'last_name', 'password_hash'],
  UserImported: ['source_id', 'email', 'phone', 'first_name', 'last_name', 'password_hash'],
  PasswordUpgraded: ['password_hash'],
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
  TotpEnrolmentStarted: ['label', 'secret'],
  MfaFactorAdded: ['label', 'secret', 'credential_id', 'public_key', 'aaguid'],
  MfaFactorRemoved: [], MfaReset: [],
  RecoveryCodesGenerated: ['code_hashes'], RecoveryCodesRevoked: [],
  MfaChallengeIssued: ['ticket_hash'], MfaVerified: ['nonce'], MfaFailed: [],
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
  UserImported: [
    'user_id', 'source', 'source_id', 'email', 'phone', 'first_name', 'last_name', 'roles', 'disabled',
    'email_verified', 'phone_verified', 'joined_at', 'last_login_at',
  ],
  PasswordUpgraded: ['user_id'],
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
  SettingsChanged: [
    'access_token_ttl_seconds', 'refresh_token_ttl_seconds', 'sliding_access_tokens', 'refresh_reuse_grace_seconds', 'mfa_required_roles',
  ],
  TotpEnrolmentStarted: ['user_id', 'factor_id', 'label', 'expires_at'],
  MfaFactorAdded: ['user_id', 'factor_id', 'kind', 'label', 'transports', 'device_type', 'backed_up', 'aaguid'],
  MfaFactorRemoved: ['user_id', 'factor_id', 'kind'],
  MfaReset: ['user_id', 'factor_ids'],
  RecoveryCodesGenerated: ['user_id', 'batch_id', 'count'],
  RecoveryCodesRevoked: ['user_id', 'batch_id'],
  MfaChallengeIssued: ['user_id', 'challenge_id', 'expires_at', 'user_revision', 'via', 'methods'],
  MfaVerified: ['user_id', 'purpose', 'method', 'challenge_id', 'factor_id', 'recovery_index'],
  MfaFailed: ['user_id', 'purpose', 'method', 'challenge_id', 'reason'],
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
/** A user's second factors and their uses (domain/mfa). */
export const mfaStream = (userId: string): string => `mfa-${userId}`;
export const parkedStream = (position: bigint): string => `parked-${position}`;
