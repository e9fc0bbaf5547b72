/**
 * Typed reads of the activity read model for the HTTP layer. Every query names its table, so
 * a rebuild's swap is seen at once. Read models lag the store: after a write, wait with
 * ProjectionRunner.waitFor(position) before reading your own write.
 */
import { ValidationError } from '../../domain/errors.js';
import { isUuid } from '../../lib/uuid.js';
import { int8, type SqlExecutor } from '../../ports/sql.js';
import { liveTable } from '../engine/tables.js';

const ACTIVITY = liveTable('activity');

export interface ActivityView {
  position: bigint;
  userId: string;
  type: string;
  occurredAt: Date;
  sessionId: string | null;
  ip: string | null;
  userAgent: string | null;
}

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
