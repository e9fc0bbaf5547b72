/**
 * One user to import, as a source gives it (a Django row, a JSON Lines object), and its
 * checks: identifiers and names normalised as registration does, roles as the admin API
 * accepts them, the password hash one the hasher can verify (or none: the user resets
 * it). A record that fails a check is refused with a stable reason and writes nothing.
 */
import { ValidationError } from '../../domain/errors.js';
import type { IdentifierKind, UserImported } from '../../domain/events.js';
import { checkRole } from '../../domain/user/user.js';
import type { PasswordHasher } from '../../ports/passwordHasher.js';
import { normaliseEmail, normaliseName, normalisePhone, type CountryCode } from '../../policy/identifiers.js';

export interface ImportRecord {
  /** The user's id in the source (its primary key): what makes a re-run find them again. */
  sourceId: string;
  email?: string | null;
  phone?: string | null;
  firstName?: string | null;
  lastName?: string | null;
  /** The source's encoded hash; null, '' or Django's unusable `!…`: no usable password. */
  password?: string | null;
  /** Default true. false: imported disabled. */
  active?: boolean;
  roles?: string[];
  emailVerified?: boolean;
  phoneVerified?: boolean;
  joinedAt?: Date | string | null;
  lastLoginAt?: Date | string | null;
}

/** Why a record is not imported (stable codes: the summary counts them). */
export type RefusalReason =
  | 'invalid_record' | 'no_identifier' | 'invalid_email' | 'invalid_phone' | 'invalid_name' | 'invalid_role'
  | 'invalid_date' | 'unsupported_hash' | 'email_taken' | 'phone_taken';

export interface Refusal {
  reason: RefusalReason;
  detail: string;
}

export interface ImportOptions {
  /** Names the source in the events and in the derived user ids ('django', …). */
  source: string;
  /** Read phone numbers without `+` as national numbers of this country. */
  phoneRegion?: CountryCode;
  /** The operator vouches for every imported identifier (no verification message). */
  verified?: boolean;
  /**
   * A hash this service cannot verify (Django's md5, sha1, crypt…): 'refuse' the user (the
   * default), or import them with no usable password (they reset it).
   */
  unsupportedHashes?: 'refuse' | 'reset';
}

export interface Prepared {
  data: Omit<UserImported['data'], 'user_id'>;
  identifiers: Array<{ kind: IdentifierKind; value: string }>;
}

class Refused extends Error {
  readonly refusal: Refusal;
  constructor(refusal: Refusal) {
    super(refusal.detail);
    this.refusal = refusal;
  }
}

const refuse = (reason: RefusalReason, detail: string): never => {
  throw new Refused({ reason, detail });
};

function checked<T>(reason: RefusalReason, fn: () => T): T {
  try {
    return fn();
  } catch (e) {
    if (e instanceof ValidationError) refuse(reason, `${e.path.replace(/^\//, '')} ${e.message}`);
    throw e;
  }
}

function isoDate(value: Date | string | null | undefined, field: string): string | null {
  if (value === null || value === undefined || value === '') return null;
  const date = value instanceof Date ? value : new Date(value);
  if (Number.isNaN(date.getTime())) refuse('invalid_date', `${field} is not a date`);
  return date.toISOString();
}

const text = (value: string | null | undefined): string | null =>
  value === null || value === undefined || value.trim() === '' ? null : value;

/** The record checked and normalised, or why it is refused. */
export function prepareImport(record: ImportRecord, hasher: Pick<PasswordHasher, 'classifyImported'>, options: ImportOptions, now: Date): Prepared | Refusal {
  try {
    if (typeof record.sourceId !== 'string' || record.sourceId === '' || record.sourceId.length > 200) {
      refuse('invalid_record', 'id must be a non-empty string of at most 200 characters');
    }
    const rawEmail = text(record.email);
    const rawPhone = text(record.phone);
    const email = rawEmail === null ? null : checked('invalid_email', () => normaliseEmail(rawEmail, '/email'));
    const phone = rawPhone === null ? null : checked('invalid_phone', () => normalisePhone(rawPhone, '/phone', options.phoneRegion));
    if (email === null && phone === null) refuse('no_identifier', 'the user has neither an email nor a phone number');
    const firstName = checked('invalid_name', () => normaliseName(record.firstName ?? '', '/first_name'));
    const lastName = checked('invalid_name', () => normaliseName(record.lastName ?? '', '/last_name'));
    const roles = [...new Set(['user', ...(record.roles ?? [])])].map((r) => checked('invalid_role', () => checkRole(r)));
    const hash = record.password ?? null;
    const kind = hasher.classifyImported(hash);
    if (kind.kind === 'refused' && options.unsupportedHashes !== 'reset') refuse('unsupported_hash', kind.reason);
    const joinedAt = isoDate(record.joinedAt, 'date_joined') ?? now.toISOString();
    const lastLoginAt = isoDate(record.lastLoginAt, 'last_login');
    return {
      data: {
        source: options.source, source_id: record.sourceId, email, phone, first_name: firstName, last_name: lastName,
        password_hash: kind.kind === 'hash' ? hash : null, roles, disabled: record.active === false,
        email_verified: email !== null && (options.verified === true || record.emailVerified === true),
        phone_verified: phone !== null && (options.verified === true || record.phoneVerified === true),
        joined_at: joinedAt, last_login_at: lastLoginAt,
      },
      identifiers: [
        ...(email === null ? [] : [{ kind: 'email' as const, value: email }]),
        ...(phone === null ? [] : [{ kind: 'phone' as const, value: phone }]),
      ],
    };
  } catch (e) {
    if (e instanceof Refused) return e.refusal;
    throw e;
  }
}

export const isRefusal = (p: Prepared | Refusal): p is Refusal => 'reason' in p;
