/**
 * NIST SP 800-63B password policy: 8 to 256 characters (Unicode code points), any
 * characters, no composition rules, and not on the list of common passwords.
 */
import { WeakPasswordError } from '../errors.js';

export const PASSWORD_MIN = 8;
export const PASSWORD_MAX = 256;

export function checkPasswordPolicy(password: string, isCommon: (lowerCased: string) => boolean): void {
  const length = [...password].length;
  if (length < PASSWORD_MIN) throw new WeakPasswordError(`a password needs at least ${PASSWORD_MIN} characters`);
  if (length > PASSWORD_MAX) throw new WeakPasswordError(`a password has at most ${PASSWORD_MAX} characters`);
  if (isCommon(password.toLowerCase())) throw new WeakPasswordError('this password is too common');
}
