/**
 * Typed reads of the users read model for the HTTP layer. Every query names its table, so
 * a rebuild's swap is seen at once. Read models lag the store: after a write, wait with
 * ProjectionRunner.waitFor(position) before reading your own write.
 */
import { ValidationError } from '../../domain/errors.js';
import { isUuid } from '../../lib/uuid.js';
import { int8, type SqlExecutor } from '../../ports/sql.js';
import { liveTable } from '../engine/tables.js';
import { USER_COLUMNS, type UserRow, type UserStatus } from './projection.js';
import { SEARCH_TEXT } from './searchText.js';

const USERS = liveTable('users');

export interface UserView {
  id: string;
  email: string | null;
  phone: string | null;
  firstName: string;
  lastName: string;
  roles: string[];
  status: UserStatus;
  emailVerified: boolean;
  phoneVerified: boolean;
  createdAt: Date;
  updatedAt: Date;
}

export interface SearchUsersOptions {
  /** Case-insensitive substring of email, phone, first or last name; empty or absent: all users. */
  query?: string | null;
  /** 1 to 500 (default 50). */
  limit?: number;
  /** `nextCursor` of the previous page. */
  cursor?: string | null;
}

export interface UserPage {
  users: UserView[];
  /** Null on the last page. */
  nextCursor: string | null;
}

const toUser = (r: UserRow): UserView => ({
  id: r.id, email: r.email, phone: r.phone, firstName: r.first_name, lastName: r.last_name,
  roles: r.roles, status: r.status, emailVerified: r.email_verified, phoneVerified: r.phone_verified,
  createdAt: r.created_at, updatedAt: r.updated_at,
});

export async function getUser(db: SqlExecutor, id: string): Promise<UserView | null> {
  if (!isUuid(id)) return null;
  const { rows } = await db.query<UserRow>(`select ${USER_COLUMNS} from ${USERS} where id = $1`, [id]);
  return rows[0] ? toUser(rows[0]) : null;
}

/** The user whose email matches case-insensitively (erased users have none). */
export async function findUserIdByEmail(db: SqlExecutor, email: string): Promise<string | null> {
  const { rows } = await db.query<{ id: string }>(
    `select id from ${USERS} where lower(email) = lower($1) order by created_at, id limit 1`, [email]);
  return rows[0]?.id ?? null;
}

/** The user with this (normalised, E.164) phone number. */
export async function findUserIdByPhone(db: SqlExecutor, phone: string): Promise<string | null> {
  const { rows } = await db.query<{ id: string }>(
    `select id from ${USERS} where phone = $1 order by created_at, id limit 1`, [phone]);
  return rows[0]?.id ?? null;
}

/** The statement of searchUsers (exported for the test that checks its plan uses the trigram index). */
export function searchStatement(options: SearchUsersOptions): { text: string; params: unknown[]; limit: number } {
  const limit = options.limit ?? 50;
  if (!Number.isInteger(limit) || limit < 1 || limit > 500) throw new ValidationError('/limit', 'must be an integer from 1 to 500');
  const query = options.query?.trim() ?? '';
  const cursor = options.cursor ? decodeCursor(options.cursor) : null;
  // With a query: candidates from the trigram index (SEARCH_TEXT), then the match itself.
  const matching = query === '' ? '$1::text is null' : `${SEARCH_TEXT} ilike $1
            and (email ilike $1 or phone ilike $1 or first_name ilike $1 or last_name ilike $1
                 or (first_name || ' ' || last_name) ilike $1)`;
  return {
    text: `select ${USER_COLUMNS}, (extract(epoch from created_at) * 1000000)::bigint as created_us
     from ${USERS}
     where ${matching}
       and ($2::bigint is null
            or (created_at, id) > (timestamptz 'epoch' + $2::bigint * interval '1 microsecond', $3::uuid))
     order by created_at, id
     limit $4`,
    params: [query === '' ? null : `%${escapeLike(query)}%`, cursor?.createdUs ?? null, cursor?.id ?? null, limit + 1],
    limit,
  };
}

/**
 * Users in (created_at, id) order, oldest first, filtered by a case-insensitive substring;
 * every status included. Keyset pagination: pass `nextCursor` back as `cursor`.
 */
export async function searchUsers(db: SqlExecutor, options: SearchUsersOptions = {}): Promise<UserPage> {
  const { text, params, limit } = searchStatement(options);
  const { rows } = await db.query<UserRow & { created_us: unknown }>(text, params);
  const page = rows.slice(0, limit);
  const last = page.at(-1);
  return {
    users: page.map(toUser),
    nextCursor: rows.length > limit && last ? encodeCursor({ createdUs: int8(last.created_us).toString(), id: last.id }) : null,
  };
}

interface Cursor {
  /** created_at in microseconds since the epoch (exact, unlike a Date). */
  createdUs: string;
  id: string;
}

function encodeCursor(c: Cursor): string {
  return Buffer.from(JSON.stringify([c.createdUs, c.id])).toString('base64url');
}

function decodeCursor(text: string): Cursor {
  try {
    const value: unknown = JSON.parse(Buffer.from(text, 'base64url').toString('utf8'));
    if (Array.isArray(value) && value.length === 2) {
      const [createdUs, id] = value as unknown[];
      if (typeof createdUs === 'string' && /^-?\d{1,19}$/.test(createdUs) && typeof id === 'string' && isUuid(id)) {
        return { createdUs, id };
      }
    }
  } catch {
    // fall through
  }
  throw new ValidationError('/cursor', 'invalid cursor');
}

/** ILIKE treats % _ and \ specially: match them literally. */
const escapeLike = (text: string): string => text.replace(/[\\%_]/g, (c) => `\\${c}`);
