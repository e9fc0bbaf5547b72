/** Events of the streams named by an identifier's keyed hash: reservations, password checks, reset asks. */
import type { Ev } from './ev.js';

/// identifier-<hmac>: one reservation stream per normalised email or phone
///
/// Streams named by an identifier's hash (these and logins-<hmac>) name their user only
/// under the user's data key (PSEUDONYMOUS in ../events.ts): erasure unlinks them. Read back
/// after an erasure, `user_id` is null.

export type IdentifierKind = 'email' | 'phone';
export type IdentifierClaimed = Ev<'IdentifierClaimed', { user_id: string; kind: IdentifierKind }>;
export type IdentifierReleased = Ev<'IdentifierReleased', { user_id: string; kind: IdentifierKind }>;
export type IdentifierEvent = IdentifierClaimed | IdentifierReleased;

/// logins-<hmac>: password checks per identifier (no password, no raw identifier)

/** Where a password was checked: login, the OAuth password grant, a password change, an erasure. */
export type PasswordCheckVia = 'login' | 'oauth' | 'password_change' | 'erasure' | 'mfa';
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
