/**
 * How a session was signed in, as RFC 8176 Authentication Method Reference values (the
 * access token's `amr`), and what that allows: roles an admin marked as needing a second
 * factor (`mfa_required_roles`) go only into tokens of sessions signed in with one.
 */
import type { MfaMethod } from '../events.js';

/** pwd: a password; otp: a one-time code (TOTP or a recovery code); hwk: a hardware-bound key (a passkey). */
export type Amr = 'pwd' | 'otp' | 'hwk';

export const PASSWORD_ONLY: readonly Amr[] = ['pwd'];
export const PASSKEY_SIGN_IN: readonly Amr[] = ['hwk'];

export const afterSecondFactor = (method: MfaMethod): Amr[] => ['pwd', method === 'webauthn' ? 'hwk' : 'otp'];

/**
 * A passkey signs in alone: the authenticator checked the user (a PIN or a biometric,
 * `userVerification: required`) and holds the key, two factors in one gesture.
 */
export const isMultiFactor = (amr: readonly string[]): boolean => amr.includes('otp') || amr.includes('hwk');

/** The roles a token of a session signed in with `amr` carries, and those held back. */
export function tokenRoles(
  roles: readonly string[], amr: readonly string[], mfaRequiredRoles: readonly string[],
): { roles: string[]; withheld: string[] } {
  if (mfaRequiredRoles.length === 0 || isMultiFactor(amr)) return { roles: [...roles], withheld: [] };
  return {
    roles: roles.filter((r) => !mfaRequiredRoles.includes(r)),
    withheld: roles.filter((r) => mfaRequiredRoles.includes(r)),
  };
}
