/**
 * Typed reads of the read models for the HTTP layer. Every query names its table, so a
 * rebuild's swap is seen at once. Read models lag the store: after a write, wait with
 * ProjectionRunner.waitFor(position) before reading your own write.
 */
import { ValidationError } from '../domain/errors.js';
import { int8, type SqlExecutor } from '../ports/sql.js';
import { SESSION_COLUMNS, type SessionRow } from './sessions/projection.js';
import { USER_COLUMNS, type UserRow, type UserStatus } from './users/projection.js';
import { liveTable } from './engine/tables.js';

const USERS = liveTable('users');
const SESSIONS = liveTable('sessions');
const ACTIVITY = liveTable('activity');

export interface UserView {
  id: string;
  email: string | null;
  phone: string | null;
  firstName: string;
  lastName: string;
  roles: string[];
  status: UserStatus;
  createdAt: Date;
  updatedAt: Date;
}

export interface SessionView {
  id: string;
  userId: string;
  createdAt: Date;
  lastUsedAt: Date;
  expiresAt: Date;
  userAgent: string | null;
  ip: string | null;
  revokedAt: Date | null;
  revokedReason: string | null;
}

export interface ActivityView {
  position: bigint;
  userId: string;
  type: string;
  occurredAt: Date;
  sessionId: string | null;
  ip: string | null;
  userAgent: string | null;
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

/// Users

const toUser = (r: UserRow): UserView => ({
  id: r.id, email: r.email, phone: r.phone, firstName: r.first_name, lastName: r.last_name,
  roles: r.roles, status: r.status, createdAt: r.created_at, updatedAt: r.updated_at,
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

/**
 * Users in (created_at, id) order, oldest first, filtered by a case-insensitive substring;
 * every status included. Keyset pagination: pass `nextCursor` back as `cursor`.
 */
export async function searchUsers(db: SqlExecutor, options: SearchUsersOptions = {}): Promise<UserPage> {
  const limit = options.limit ?? 50;
  if (!Number.isInteger(limit) || limit < 1 || limit > 500) throw new ValidationError('/limit', 'must be an integer from 1 to 500');
  const query = options.query?.trim() ?? '';
  const cursor = options.cursor ? decodeCursor(options.cursor) : null;
  const { rows } = await db.query<UserRow & { created_us: unknown }>(
    `select ${USER_COLUMNS}, (extract(epoch from created_at) * 1000000)::bigint as created_us
     from ${USERS}
     where ($1::text is null
            or email ilike $1 or phone ilike $1 or first_name ilike $1 or last_name ilike $1
            or (first_name || ' ' || last_name) ilike $1)
       and ($2::bigint is null
            or (created_at, id) > (timestamptz 'epoch' + $2::bigint * interval '1 microsecond', $3::uuid))
     order by created_at, id
     limit $4`,
    [query === '' ? null : `%${escapeLike(query)}%`, cursor?.createdUs ?? null, cursor?.id ?? null, limit + 1]);
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

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
const isUuid = (text: string): boolean => UUID.test(text);

/// Sessions

const toSession = (r: SessionRow): SessionView => ({
  id: r.id, userId: r.user_id, createdAt: r.created_at, lastUsedAt: r.last_used_at, expiresAt: r.expires_at,
  userAgent: r.user_agent, ip: r.ip, revokedAt: r.revoked_at, revokedReason: r.revoked_reason,
});

/** The user's sessions neither revoked nor expired at `now`, newest first. */
export async function listSessions(db: SqlExecutor, userId: string, now: Date): Promise<SessionView[]> {
  if (!isUuid(userId)) return [];
  const { rows } = await db.query<SessionRow>(
    `select ${SESSION_COLUMNS} from ${SESSIONS}
     where user_id = $1 and revoked_at is null and expires_at > $2
     order by created_at desc, id desc`,
    [userId, now.toISOString()]);
  return rows.map(toSession);
}

/**
 * Ids of the user's sessions not revoked (the ones a logout-all, password change, disable
 * or erasure must revoke). With `now`, only those whose refresh token has not expired.
 */
export async function sessionIdsOfUser(db: SqlExecutor, userId: string, now?: Date): Promise<string[]> {
  if (!isUuid(userId)) return [];
  const { rows } = await db.query<{ id: string }>(
    `select id from ${SESSIONS}
     where user_id = $1 and revoked_at is null and ($2::timestamptz is null or expires_at > $2)
     order by created_at, id`,
    [userId, now?.toISOString() ?? null]);
  return rows.map((r) => r.id);
}

export async function getSession(db: SqlExecutor, id: string): Promise<SessionView | null> {
  if (!isUuid(id)) return null;
  const { rows } = await db.query<SessionRow>(`select ${SESSION_COLUMNS} from ${SESSIONS} where id = $1`, [id]);
  return rows[0] ? toSession(rows[0]) : null;
}

/** Ids of the sessions revoked at or after `since` (to warm the in-memory revocation set). */
export async function revokedSessionsSince(db: SqlExecutor, since: Date): Promise<string[]> {
  const { rows } = await db.query<{ id: string }>(
    `select id from ${SESSIONS} where revoked_at >= $1 order by revoked_at, id`, [since.toISOString()]);
  return rows.map((r) => r.id);
}

/// Activity

interface ActivityRecord {
  position: unknown;
  user_id: string;
  type: string;
  occurred_at: Date;
  session_id: string | null;
  ip: string | null;
  user_agent: string | null;
}

/** The user's latest `limit` activity rows, newest first. */
export async function activity(db: SqlExecutor, userId: string, limit: number): Promise<ActivityView[]> {
  if (!Number.isInteger(limit) || limit < 1 || limit > 1000) throw new ValidationError('/limit', 'must be an integer from 1 to 1000');
  if (!isUuid(userId)) return [];
  const { rows } = await db.query<ActivityRecord>(
    `select position, user_id, type, occurred_at, session_id, ip, user_agent from ${ACTIVITY}
     where user_id = $1 order by position desc limit $2`,
    [userId, limit]);
  return rows.map((r) => ({
    position: int8(r.position), userId: r.user_id, type: r.type, occurredAt: r.occurred_at,
    sessionId: r.session_id, ip: r.ip, userAgent: r.user_agent,
  }));
}
