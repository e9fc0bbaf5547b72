/** Events of `user-<user_id>`: the account, and its recovery and verification. */
import type { Ev } from './ev.js';

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
/**
 * A user brought in from another system (`authstream import`): the account as it stood
 * there. `password_hash` is that system's own hash (Django's `algorithm$…`), verified on
 * sign-in and replaced by PasswordUpgraded; null when the user had no usable password
 * (they reset it). `user_id` is derived from `source` and `source_id`, so importing the
 * same user twice finds the stream already there.
 */
export type UserImported = Ev<'UserImported', {
  user_id: string;
  source: string;
  source_id: string;
  email: string | null;
  phone: string | null;
  first_name: string;
  last_name: string;
  password_hash: string | null;
  roles: Role[];
  disabled: boolean;
  email_verified: boolean;
  phone_verified: boolean;
  joined_at: string; // ISO-8601, in the source
  last_login_at: string | null; // ISO-8601, in the source
}>;
/** The same password, hashed again with our current parameters: no session ends. */
export type PasswordUpgraded = Ev<'PasswordUpgraded', { user_id: string; password_hash: string }>;
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
  | UserRegistered | UserImported | PasswordUpgraded | ProfileUpdated | EmailChanged | PhoneChanged | PasswordChanged
  | RoleGranted | RoleRevoked | UserDisabled | UserEnabled | UserErased | RecoveryEvent;
