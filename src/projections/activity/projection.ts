/**
 * Read model `activity`: what happened to an account, one row per event (keyed by its
 * global position), newest first in the views. The ip and user agent come from the
 * event's decrypted metadata.
 *
 * A session's refreshes make one row, not one each (a session refreshed every five minutes
 * would add 288 rows a day): its RefreshTokenRotated row is its latest rotation, moved up
 * (position, time, ip, user agent) by each newer one; replaying an older one changes nothing.
 *
 * Erasure: UserErased gets a row of its own (it happened to the account, and it marks the
 * user as erased). Its arrival nulls ip and user agent of all the user's rows, and rows
 * written after it (events that raced the erasure and were decoded with a still-cached
 * key) are stored without them, as a rebuild (key gone) stores them. Other rows are
 * insert-only (`on conflict do nothing`), so a replay changes nothing.
 *
 * A failed login names its user only under the user's key (PSEUDONYMOUS in
 * domain/events.ts): once the user is erased a rebuild cannot attribute it, so the erasure
 * deletes the user's LoginFailed rows and none is stored after it: live rows and rebuilt
 * rows stay the same.
 */
import type { DomainEvent } from '../../domain/events.js';
import type { Decoded } from '../../ports/events.js';
import type { SqlExecutor } from '../../ports/sql.js';
import type { Projection } from '../../ports/projections.js';
import { indexName, type TableNamer } from '../engine/tables.js';
import { forgetNetworkData } from '../erasure.js';

/** The event types that make an activity row (when their user_id is not null). */
export const ACTIVITY_TYPES = [
  'UserRegistered', 'ProfileUpdated', 'EmailChanged', 'PhoneChanged', 'PasswordChanged',
  'RoleGranted', 'RoleRevoked', 'UserDisabled', 'UserEnabled', 'UserErased',
  'UserImported', 'PasswordUpgraded',
  'SessionStarted', 'RefreshTokenRotated', 'RefreshTokenReuseDetected', 'SessionRevoked',
  'LoginFailed',
  'PasswordResetRequested', 'PasswordReset', 'EmailVerificationRequested', 'EmailVerified',
  'PhoneVerificationRequested', 'PhoneVerified',
  'TotpEnrolmentStarted', 'MfaFactorAdded', 'MfaFactorRemoved', 'MfaReset', 'RecoveryCodesGenerated', 'RecoveryCodesRevoked',
  'MfaChallengeIssued', 'MfaVerified', 'MfaFailed',
] as const satisfies readonly DomainEvent['type'][];

type ActivityType = (typeof ACTIVITY_TYPES)[number];
type ActivityEvent = Decoded<Extract<DomainEvent, { type: ActivityType }>>;

const TYPES: ReadonlySet<string> = new Set(ACTIVITY_TYPES);

/** A row of `activity`, as sent to be stored (the position as decimal text: JSON has no bigint). */
interface ActivityRow {
  position: string;
  user_id: string;
  type: ActivityType;
  occurred_at: Date;
  session_id: string | null;
  ip: string | null;
  user_agent: string | null;
}

const isActivity = (e: Decoded): e is ActivityEvent =>
  TYPES.has(e.type) && 'user_id' in e.data && typeof e.data.user_id === 'string';

const idOf = (id: string): string => id.toLowerCase();

function sessionOf(e: ActivityEvent): string | null {
  switch (e.type) {
    case 'SessionStarted':
    case 'RefreshTokenRotated':
    case 'RefreshTokenReuseDetected':
    case 'SessionRevoked':
      return idOf(e.data.session_id);
    case 'PasswordChanged':
      return e.data.kept_session_id === null ? null : idOf(e.data.kept_session_id); // the session that changed it
    default:
      return null;
  }
}

function userOf(e: ActivityEvent): string {
  // isActivity checked that user_id is a string (LoginFailed's may be null).
  return idOf(e.data.user_id as string);
}

/**
 * The insert of `rows` (sent as one JSON parameter) into `t`, with ip and user agent left
 * out for users whose UserErased row is already stored (the rows of a user erased within
 * the batch are handled by the caller); `tail` ends the statement.
 */
function insertStatement(t: string, tail: string): string {
  return `with r as (
       select * from jsonb_to_recordset($1::jsonb) as r(
         position bigint, user_id uuid, type text, occurred_at timestamptz, session_id uuid, ip text, user_agent text)),
     gone as (
       select distinct x.user_id from ${t} x where x.type = 'UserErased' and x.user_id in (select user_id from r))
     insert into ${t} as a (position, user_id, type, occurred_at, session_id, ip, user_agent)
     select r.position, r.user_id, r.type, r.occurred_at, r.session_id,
            case when gone.user_id is null then r.ip end, case when gone.user_id is null then r.user_agent end
     from r left join gone on gone.user_id = r.user_id
     ${tail}`;
}

/** Inserts the rows (insert-only: a replayed event changes nothing); no failed login of an erased user. */
async function insertRows(tx: SqlExecutor, t: string, rows: readonly ActivityRow[]): Promise<void> {
  if (rows.length === 0) return;
  await tx.query(
    insertStatement(t, `where not (r.type = 'LoginFailed' and gone.user_id is not null)
     on conflict (position) do nothing`),
    // No replacer: one called for every key of every row was most of this function's time.
    [JSON.stringify(rows)]);
}

/**
 * Moves each session's refresh row to its latest rotation (one row per session in `rows`,
 * the newest of the batch); an older rotation, replayed, changes nothing.
 */
async function upsertRefreshRows(tx: SqlExecutor, t: string, rows: readonly ActivityRow[]): Promise<void> {
  if (rows.length === 0) return;
  await tx.query(
    insertStatement(t, `on conflict (session_id) where type = 'RefreshTokenRotated' do update
       set position = excluded.position, occurred_at = excluded.occurred_at, ip = excluded.ip, user_agent = excluded.user_agent
       where excluded.position > a.position`),
    [JSON.stringify(rows)]);
}

/** Splits the rows: the newest refresh row of each session, and the rest. */
function refreshRowsApart(rows: readonly ActivityRow[]): { refreshes: ActivityRow[]; others: ActivityRow[] } {
  const latest = new Map<string, ActivityRow>();
  const others: ActivityRow[] = [];
  for (const row of rows) {
    if (row.type === 'RefreshTokenRotated' && row.session_id !== null) latest.set(row.session_id, row); // rows come in position order
    else others.push(row);
  }
  return { refreshes: [...latest.values()], others };
}

export const activityProjection: Projection = {
  name: 'activity',
  version: 3,
  writesOnly: true,
  tables: ['activity'],
  types: ACTIVITY_TYPES,

  async setup(tx: SqlExecutor, table: TableNamer): Promise<void> {
    const t = table('activity');
    await tx.query(`create table if not exists ${t} (
      position bigint primary key,
      user_id uuid not null,
      type text not null,
      occurred_at timestamptz not null,
      session_id uuid,
      ip text,
      user_agent text
    )`);
    await tx.query(`create index if not exists ${indexName(t, 'user')} on ${t} (user_id, position desc)`);
    await tx.query(`create index if not exists ${indexName(t, 'erased')} on ${t} (user_id) where type = 'UserErased'`);
    await tx.query(`create unique index if not exists ${indexName(t, 'refresh')} on ${t} (session_id) where type = 'RefreshTokenRotated'`);
  },

  async apply(tx: SqlExecutor, events: Decoded[], table: TableNamer): Promise<void> {
    const relevant = events.filter(isActivity);
    if (relevant.length === 0) return;
    const t = table('activity');
    // Users erased earlier in this batch; those erased before it are known to insertRows.
    const erased = new Set<string>();
    const erasedNow: string[] = [];
    const rows = relevant.flatMap((e): ActivityRow[] => {
      const userId = userOf(e);
      if (e.type === 'UserErased' && !erased.has(userId)) {
        erased.add(userId);
        erasedNow.push(userId);
      }
      const gone = erased.has(userId);
      if (gone && e.type === 'LoginFailed') return [];
      return [{
        position: e.position.toString(), user_id: userId, type: e.type, occurred_at: e.occurredAt, session_id: sessionOf(e),
        ip: gone ? null : e.metadata.ip,
        user_agent: gone ? null : e.metadata.user_agent,
      }];
    });
    const { refreshes, others } = refreshRowsApart(rows);
    await insertRows(tx, t, others);
    await upsertRefreshRows(tx, t, refreshes);
    await forgetNetworkData(tx, t, erasedNow);
    if (erasedNow.length > 0) {
      await tx.query(`delete from ${t} where user_id = any($1::uuid[]) and type = 'LoginFailed'`, [erasedNow]);
    }
  },
};
