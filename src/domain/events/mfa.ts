/**
 * Events of `mfa-<user_id>`: a user's second factors (TOTP, passkeys), recovery codes,
 * and every use of them. Secrets (a TOTP secret, recovery-code hashes, a sign-in ticket's
 * hash) and what names a device (labels, credential ids, public keys) are personal fields,
 * sealed with the user's key: erasure shreds them with the rest.
 */
import type { Ev } from './ev.js';

export type MfaFactorKind = 'totp' | 'webauthn';
/** How a second factor was shown: a TOTP code, a WebAuthn assertion, a recovery code. */
export type MfaMethod = 'totp' | 'webauthn' | 'recovery_code';
/** What a verification was for. */
export type MfaPurpose = 'login' | 'passkey_login' | 'remove_factor';
export type MfaFailureReason = 'wrong_code' | 'replayed_code' | 'bad_assertion' | 'unknown_factor';

/** A TOTP secret made for the user: it counts once a first code confirms it (MfaFactorAdded). */
export type TotpEnrolmentStarted = Ev<'TotpEnrolmentStarted', {
  user_id: string;
  factor_id: string;
  label: string;
  /** Base32 (RFC 4648), as authenticator apps take it. */
  secret: string;
  expires_at: string; // ISO-8601
}>;

export type MfaFactorAdded = Ev<'MfaFactorAdded', {
  user_id: string;
  factor_id: string;
  kind: MfaFactorKind;
  label: string;
  /** totp: the secret, and the time step of the code that confirmed it (not accepted again). */
  secret?: string;
  totp_step?: number;
  /** webauthn: the credential as registered (base64url id and COSE public key). */
  credential_id?: string;
  public_key?: string;
  sign_count?: number;
  transports?: string[];
  device_type?: 'singleDevice' | 'multiDevice';
  backed_up?: boolean;
  aaguid?: string;
}>;

export type MfaFactorRemoved = Ev<'MfaFactorRemoved', { user_id: string; factor_id: string; kind: MfaFactorKind }>;

/** An admin cleared every factor and recovery code of the user (the actor is the admin). */
export type MfaReset = Ev<'MfaReset', { user_id: string; factor_ids: string[] }>;

/** A new set of single-use recovery codes: only their keyed hashes; earlier codes are void. */
export type RecoveryCodesGenerated = Ev<'RecoveryCodesGenerated', {
  user_id: string;
  batch_id: string;
  code_hashes: string[];
  count: number;
}>;
/** The codes of `batch_id` are void (the last factor was removed). */
export type RecoveryCodesRevoked = Ev<'RecoveryCodesRevoked', { user_id: string; batch_id: string }>;

/**
 * A password was right and a second factor is due: the single-use ticket (only its hash)
 * that a second call presents with the factor. `user_revision`: the user stream the
 * password was checked against (a password change since voids the ticket).
 */
export type MfaChallengeIssued = Ev<'MfaChallengeIssued', {
  user_id: string;
  challenge_id: string;
  ticket_hash: string;
  expires_at: string; // ISO-8601
  user_revision: string;
  via: 'login' | 'oauth';
  methods: MfaMethod[];
}>;

/**
 * A second factor verified. `challenge_id`: the ticket it redeemed (login), null otherwise.
 * What makes it single-use is recorded with it: the TOTP time step, the authenticator's
 * signature counter, the recovery code's index, the passkey challenge's nonce.
 */
export type MfaVerified = Ev<'MfaVerified', {
  user_id: string;
  purpose: MfaPurpose;
  method: MfaMethod;
  challenge_id: string | null;
  factor_id: string | null;
  totp_step?: number;
  sign_count?: number;
  recovery_batch_id?: string;
  recovery_index?: number;
  nonce?: string;
}>;

/** A second factor that did not verify: counted by the per-account MFA throttle. */
export type MfaFailed = Ev<'MfaFailed', {
  user_id: string;
  purpose: MfaPurpose;
  method: MfaMethod;
  challenge_id: string | null;
  reason: MfaFailureReason;
}>;

export type MfaEvent =
  | TotpEnrolmentStarted | MfaFactorAdded | MfaFactorRemoved | MfaReset | RecoveryCodesGenerated | RecoveryCodesRevoked
  | MfaChallengeIssued | MfaVerified | MfaFailed;
