/**
 * Normalisation of identifiers, so that two spellings a person cannot tell apart are one
 * account: emails trimmed, NFKC-normalised and lower-cased, the domain through IDNA
 * (UTS #46, as WHATWG URL does) and kept in its Unicode form; phone numbers NFKC-normalised
 * then to E.164 (libphonenumber-js). Control, format and invisible characters are refused
 * outright rather than dropped (a zero-width space or a bidi override in an identifier is
 * a spoof, not a typo). Anything that is not a plausible email or a possible phone number
 * is a validation error, so it never reaches the event store.
 */
import { domainToASCII, domainToUnicode } from 'node:url';
import { isSupportedCountry, parsePhoneNumberFromString, type CountryCode } from 'libphonenumber-js/max';

export type { CountryCode };
import { ValidationError } from '../domain/errors.js';
import type { IdentifierKind } from '../domain/events.js';

const EMAIL = /^[^\s@]+@[^\s@]+$/;
export const EMAIL_MAX = 254;

/**
 * Control characters (Cc, U+0085 included) and lone surrogates are not text: PostgreSQL
 * cannot store U+0000 at all (a read model would fail on the event for ever), and the rest
 * only garble views.
 */
const NOT_TEXT = /\p{Cc}|\p{Cs}/u;
/**
 * Not allowed in identifiers: the above, format characters (Cf: zero-width spaces and
 * joiners, bidi controls, soft hyphen, …) and the fillers that render as nothing.
 */
const NOT_IDENTIFIER = /\p{Cc}|\p{Cs}|\p{Cf}|[\u115f\u1160\u3164\uffa0\u2800]/u;
/** Not allowed in names: controls, and bidi overrides and isolates (ZWJ and ZWNJ stay: scripts and emoji need them). */
const NOT_NAME = /\p{Cc}|\p{Cs}|[\u202a-\u202e\u2066-\u2069]/u;

/** Spaces, tabs and line breaks around an identifier are a paste artefact; a BOM or a zero-width space is not. */
const trimAsciiSpace = (raw: string): string => raw.replace(/^[ \t\r\n]+|[ \t\r\n]+$/g, '');

export function normaliseEmail(raw: string, path = '/email'): string {
  const trimmed = trimAsciiSpace(raw);
  if (NOT_IDENTIFIER.test(trimmed)) throw new ValidationError(path, 'must not contain control, format or invisible characters');
  const email = trimmed.normalize('NFKC').trim().toLowerCase();
  const at = email.lastIndexOf('@');
  if (email.length === 0 || email.length > EMAIL_MAX || !EMAIL.test(email) || email.slice(at + 1).includes('..')) {
    throw new ValidationError(path, 'must be an email address');
  }
  const ascii = domainToASCII(email.slice(at + 1));
  if (ascii === '' || ascii.length > 253) throw new ValidationError(path, 'must be an email address with a valid domain');
  const normalised = `${email.slice(0, at)}@${domainToUnicode(ascii)}`;
  if (normalised.length > EMAIL_MAX || !EMAIL.test(normalised)) throw new ValidationError(path, 'must be an email address');
  return normalised;
}

/**
 * `region` (ISO 3166 alpha-2, e.g. 'FR'): a number written without `+` is read as a
 * national number of that country (imports from systems that stored them so). Without
 * it, the number is international, the `+` optional.
 */
export function normalisePhone(raw: string, path = '/phone', region?: CountryCode): string {
  const trimmed = trimAsciiSpace(raw);
  if (NOT_IDENTIFIER.test(trimmed)) throw new ValidationError(path, 'must not contain control, format or invisible characters');
  const text = trimmed.normalize('NFKC').trim();
  if (text.length === 0 || text.length > 40) throw new ValidationError(path, 'must be a phone number in international format');
  const parsed = region !== undefined && !text.startsWith('+')
    ? parsePhoneNumberFromString(text, region)
    : parsePhoneNumberFromString(text.startsWith('+') ? text : `+${text}`);
  if (!parsed || !parsed.isPossible()) throw new ValidationError(path, 'must be a possible phone number in international format');
  return parsed.number;
}

/** An `identifier` that is either: an @ means email, otherwise a phone number. */
/** A country code for normalisePhone's `region`, or null when libphonenumber does not know it. */
export const phoneRegion = (code: string): CountryCode | null => (isSupportedCountry(code.toUpperCase()) ? code.toUpperCase() as CountryCode : null);

export function normaliseIdentifier(raw: string, path = '/identifier', region?: CountryCode): { kind: IdentifierKind; value: string } {
  return raw.includes('@')
    ? { kind: 'email', value: normaliseEmail(raw, path) }
    : { kind: 'phone', value: normalisePhone(raw, path, region) };
}

/** Names are trimmed; at most 100 characters (code points); any script, stored exactly as given. */
export function normaliseName(raw: string, path: string): string {
  const name = raw.trim();
  if ([...name].length > 100) throw new ValidationError(path, 'must be at most 100 characters');
  if (NOT_NAME.test(name)) throw new ValidationError(path, 'must not contain control characters or bidirectional overrides');
  return name;
}

/** Free text that goes into a query (a search): any text but controls (PostgreSQL cannot hold U+0000). */
export function isPlainText(raw: string): boolean {
  return !NOT_TEXT.test(raw);
}
