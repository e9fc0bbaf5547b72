/** Events of `session-<session_id>`. */
import type { Ev } from './ev.js';
import type { SessionRevokedReason } from './user.js';


export type SessionStarted = Ev<'SessionStarted', {
  session_id: string;
  user_id: string;
  /** SHA-256 of the refresh token, base64url. A secret: never shown by admin views. */
  refresh_token_hash: string;
  expires_at: string; // ISO-8601
  /** Revision of the user stream this login was decided against. */
  user_revision: string;
  /** How the user signed in (RFC 8176 values: pwd, otp, hwk); absent on sessions from before it was recorded: ["pwd"]. */
  amr?: string[];
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
