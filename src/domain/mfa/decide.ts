/**
 * Decisions on a user's second factors. Everything a decision needs arrives as data:
 * the secret or credential made by the caller, the outcome of checking a code or an
 * assertion against the state (a TOTP step, a new signature counter), the time.
 */
import { ConflictError, InvalidCodeError, InvalidTokenError, NotFoundError, ValidationError } from '../errors.js';
import type { MfaEvent, MfaFactorAdded, MfaFailureReason, MfaMethod, MfaPurpose } from '../events.js';
import { checkThrottle, type ThrottlePolicy } from '../login/throttle.js';
import { MAX_FACTORS, methodsOf, type MfaState, type OpenChallenge } from './state.js';

/// Enrolment

export interface NewRecoveryCodes {
  batchId: string;
  hashes: string[];
}

function roomForOneMore(state: MfaState): void {
  if (state.factors.size >= MAX_FACTORS) throw new ConflictError(`a user has at most ${MAX_FACTORS} second factors; remove one first`);
}

export function decideStartTotp(
  state: MfaState, c: { userId: string; factorId: string; label: string; secret: string; expiresAt: Date },
): MfaEvent[] {
  roomForOneMore(state);
  return [{
    type: 'TotpEnrolmentStarted',
    data: { user_id: c.userId, factor_id: c.factorId, label: c.label, secret: c.secret, expires_at: c.expiresAt.toISOString() },
  }];
}

/** Codes for a user's first factor: recovery codes come with it when none are left. */
const withCodes = (state: MfaState, userId: string, added: MfaFactorAdded, codes: NewRecoveryCodes | null): MfaEvent[] =>
  state.recovery === null && codes !== null
    ? [added, { type: 'RecoveryCodesGenerated', data: { user_id: userId, batch_id: codes.batchId, code_hashes: codes.hashes, count: codes.hashes.length } }]
    : [added];

/**
 * The first code of a TOTP enrolment: `step` is the time step the code matched (null: it
 * matched none). An unknown or expired enrolment is 404; a wrong code 400 invalid_code.
 */
export function decideConfirmTotp(
  state: MfaState, c: { userId: string; factorId: string; step: number | null; now: Date; codes: NewRecoveryCodes | null },
): MfaEvent[] {
  const pending = state.pending.get(c.factorId);
  if (!pending || pending.expiresAt.getTime() <= c.now.getTime()) throw new NotFoundError('TOTP enrolment');
  if (c.step === null) throw new InvalidCodeError('the code does not match this authenticator; check the device clock and try again');
  roomForOneMore(state);
  const added: MfaFactorAdded = {
    type: 'MfaFactorAdded',
    data: { user_id: c.userId, factor_id: c.factorId, kind: 'totp', label: pending.label, secret: pending.secret, totp_step: c.step },
  };
  return withCodes(state, c.userId, added, c.codes);
}

export interface NewPasskey {
  userId: string;
  factorId: string;
  label: string;
  credentialId: string;
  publicKey: string;
  signCount: number;
  transports: string[];
  deviceType: 'singleDevice' | 'multiDevice';
  backedUp: boolean;
  aaguid: string;
}

export function decideAddPasskey(state: MfaState, c: NewPasskey, codes: NewRecoveryCodes | null): MfaEvent[] {
  roomForOneMore(state);
  const known = [...state.factors.values()].some((f) => f.kind === 'webauthn' && f.credentialId === c.credentialId);
  if (known) throw new ConflictError('this passkey is registered already');
  const added: MfaFactorAdded = {
    type: 'MfaFactorAdded',
    data: {
      user_id: c.userId, factor_id: c.factorId, kind: 'webauthn', label: c.label, credential_id: c.credentialId,
      public_key: c.publicKey, sign_count: c.signCount, transports: c.transports, device_type: c.deviceType,
      backed_up: c.backedUp, aaguid: c.aaguid,
    },
  };
  return withCodes(state, c.userId, added, codes);
}

/** Removing a factor. The last one needs a fresh proof (a password or another second factor). */
export function decideRemoveFactor(state: MfaState, c: { userId: string; factorId: string; proven: boolean }): MfaEvent[] {
  const factor = state.factors.get(c.factorId);
  if (!factor) throw new NotFoundError('factor');
  const last = state.factors.size === 1;
  if (last && !c.proven) {
    throw new ValidationError('/password', 'removing the last second factor needs the password or a code from it');
  }
  const events: MfaEvent[] = [{ type: 'MfaFactorRemoved', data: { user_id: c.userId, factor_id: factor.id, kind: factor.kind } }];
  if (last && state.recovery) events.push({ type: 'RecoveryCodesRevoked', data: { user_id: c.userId, batch_id: state.recovery.batchId } });
  return events;
}

export function decideGenerateCodes(state: MfaState, c: { userId: string; codes: NewRecoveryCodes }): MfaEvent[] {
  if (state.factors.size === 0) throw new ConflictError('recovery codes back up a second factor: add a factor first');
  return [{
    type: 'RecoveryCodesGenerated',
    data: { user_id: c.userId, batch_id: c.codes.batchId, code_hashes: c.codes.hashes, count: c.codes.hashes.length },
  }];
}

export function decideReset(state: MfaState, userId: string): MfaEvent[] {
  if (state.factors.size === 0 && state.pending.size === 0 && state.recovery === null) return [];
  return [{ type: 'MfaReset', data: { user_id: userId, factor_ids: [...state.factors.keys()] } }];
}

/// Sign-in

export function decideIssueChallenge(
  state: MfaState,
  c: { userId: string; challengeId: string; ticketHash: string; expiresAt: Date; userRevision: bigint; via: 'login' | 'oauth' },
): MfaEvent[] {
  return [{
    type: 'MfaChallengeIssued',
    data: {
      user_id: c.userId, challenge_id: c.challengeId, ticket_hash: c.ticketHash, expires_at: c.expiresAt.toISOString(),
      user_revision: c.userRevision.toString(), via: c.via, methods: methodsOf(state),
    },
  }];
}

/**
 * The open ticket `challengeId` if `ticketHash` is its hash and it has not expired
 * (compared by the caller's timing-safe `same`); InvalidTokenError otherwise.
 */
export function openChallenge(
  state: MfaState, c: { challengeId: string; ticketHash: string; now: Date }, same: (a: string, b: string) => boolean,
): OpenChallenge {
  const open = state.challenges.get(c.challengeId);
  if (!open || !same(open.ticketHash, c.ticketHash) || open.expiresAt.getTime() <= c.now.getTime()) {
    throw new InvalidTokenError('the MFA ticket is invalid, expired or already used; sign in again');
  }
  return open;
}

/** How a second factor checked out against the state it was checked on. */
export type Check =
  | { ok: true; factorId: string | null; totpStep?: number; signCount?: number; recoveryIndex?: number; nonce?: string }
  | { ok: false; reason: MfaFailureReason };

/**
 * One verification of a second factor, under the per-account throttle (429 when
 * `maxFailures` failures are in the window: checked before anything else, so a locked
 * account learns nothing about its codes). A TOTP step at or before the factor's last
 * one, a recovery code used, a passkey nonce seen: all fail as `replayed_code`. Returns
 * the one event to append: MfaVerified or MfaFailed (the caller answers 400 after
 * appending a failure).
 */
export function decideVerify(
  state: MfaState,
  policy: ThrottlePolicy,
  c: { userId: string; purpose: MfaPurpose; method: MfaMethod; challengeId: string | null; now: Date; check: Check },
): MfaEvent {
  checkThrottle({ failures: state.failures, pending: new Map() }, policy, c.now);
  const base = { user_id: c.userId, purpose: c.purpose, method: c.method, challenge_id: c.challengeId };
  const fail = (reason: MfaFailureReason): MfaEvent => ({ type: 'MfaFailed', data: { ...base, reason } });
  const check = c.check;
  if (!check.ok) return fail(check.reason);
  const factor = check.factorId === null ? undefined : state.factors.get(check.factorId);
  if (check.factorId !== null && !factor) return fail('unknown_factor');
  if (factor?.kind === 'totp' && (check.totpStep === undefined || check.totpStep <= factor.lastStep)) return fail('replayed_code');
  if (check.nonce !== undefined && state.usedNonces.has(check.nonce)) return fail('replayed_code');
  let recovery = {};
  if (check.recoveryIndex !== undefined) {
    if (!state.recovery || state.recovery.used.has(check.recoveryIndex)) return fail('replayed_code');
    recovery = { recovery_batch_id: state.recovery.batchId, recovery_index: check.recoveryIndex };
  }
  return {
    type: 'MfaVerified',
    data: {
      ...base, factor_id: check.factorId, ...recovery,
      ...(check.totpStep === undefined ? {} : { totp_step: check.totpStep }),
      ...(check.signCount === undefined ? {} : { sign_count: check.signCount }),
      ...(check.nonce === undefined ? {} : { nonce: check.nonce }),
    },
  };
}
