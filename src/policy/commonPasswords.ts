/** Is this (lower-cased) password on the list of common passwords the service refuses? */
import { COMMON_PASSWORDS } from './commonPasswordList.js';

const LIST: ReadonlySet<string> = new Set(COMMON_PASSWORDS.map((p) => p.toLowerCase()));

export function isCommonPassword(lowerCased: string): boolean {
  return LIST.has(lowerCased);
}
