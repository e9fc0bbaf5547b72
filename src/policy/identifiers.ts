/**
 * Normalisation of identifiers: emails trimmed and lower-cased; phone numbers to E.164
 * (libphonenumber-js). Anything that is not a plausible email or a possible phone number
 * is a validation error, so it never reaches the event store.
 */
import { parsePhoneNumberFromString } from 'libphonenumber-js/max';
import { ValidationError } from '../domain/errors.js';
import type { IdentifierKind } from '../domain/events.js';

const EMAIL = /^[^\s@]+@[^\s@]+$/;
export const EMAIL_MAX = 254;

/**
 * Control characters and lone surrogates are not text: PostgreSQL cannot store U+0000 at
 * all (a read model would fail on the event for ever), and the rest only garble views.
 */
const NOT_TEXT = /[\u0000-\u001f\u007f]|\p{Cs}/u;

export function normaliseEmail(raw: string, path = '/email'): string {
  const email = raw.trim().toLowerCase();
  if (email.length === 0 || email.length > EMAIL_MAX || !EMAIL.test(email) || NOT_TEXT.test(email)
    || email.split('@')[1]?.includes('..')) {
    throw new ValidationError(path, 'must be an email address');
  }
  return email;
}

export function normalisePhone(raw: string, path = '/phone'): string {
  const text = raw.trim();
  if (text.length === 0 || text.length > 40) throw new ValidationError(path, 'must be a phone number in international format');
  const withPlus = text.startsWith('+') ? text : `+${text}`;
  const parsed = parsePhoneNumberFromString(withPlus);
  if (!parsed || !parsed.isPossible()) throw new ValidationError(path, 'must be a possible phone number in international format');
  return parsed.number;
}

/** An `identifier` that is either: an @ means email, otherwise a phone number. */
export function normaliseIdentifier(raw: string, path = '/identifier'): { kind: IdentifierKind; value: string } {
  return raw.includes('@')
    ? { kind: 'email', value: normaliseEmail(raw, path) }
    : { kind: 'phone', value: normalisePhone(raw, path) };
}

/** Names are trimmed; at most 100 characters (code points). */
export function normaliseName(raw: string, path: string): string {
  const name = raw.trim();
  if ([...name].length > 100) throw new ValidationError(path, 'must be at most 100 characters');
  if (NOT_TEXT.test(name)) throw new ValidationError(path, 'must not contain control characters');
  return name;
}
