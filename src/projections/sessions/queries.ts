/**
 * Typed reads of the sessions read model for the HTTP layer. Every query names its table, so
 * a rebuild's swap is seen at once. Read models lag the store: after a write, wait with
 * ProjectionRunner.waitFor(position) before reading your own write.
 */
import { isUuid } from '../../lib/uuid.js';
import type { SqlExecutor } from '../../ports/sql.js';
import { liveTable } from '../engine/tables.js';
import { SESSION_COLUMNS, type SessionRow } from './projection.js';

const SESSIONS = liveTable('sessions');

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
