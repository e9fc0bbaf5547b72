/**
 * Read model `sessions`: one row per session, for "your devices" views and for finding a
 * user's sessions to revoke. No token hashes: they are secrets.
 *
 * `ip` and `user_agent` come from SessionStarted's decrypted metadata. They are personal
 * data: UserErased nulls them on every session of the user, and `session_erasures`
 * remembers erased users so a session whose start raced the erasure (and was decoded with
 * a still-cached key) is stored without them, exactly as a rebuild (key gone) stores it.
 *
 * Applied without reading the rows first: the batch's events are folded into one change
 * per session and merged into the rows by one statement (see writeChanges). Replays leave
 * the same rows: a start only creates, a rotation older than the last use changes
 * nothing, and the first revocation wins.
 */
import type { SessionEvent, UserErased } from '../../domain/events.js';
import type { Decoded } from '../../ports/events.js';
import type { SqlExecutor } from '../../ports/sql.js';
import type { Projection } from '../../ports/projections.js';
import { indexName, type TableNamer } from '../engine/tables.js';
import { forgetNetworkData } from '../erasure.js';

/** A row of `sessions`, as stored. */
export interface SessionRow {
  id: string;
  user_id: string;
  created_at: Date;
  last_used_at: Date;
  expires_at: Date;
  user_agent: string | null;
  ip: string | null;
  revoked_at: Date | null;
  revoked_reason: string | null;
}

type Relevant = Decoded<SessionEvent> | Decoded<UserErased>;

/** The events this read model uses. */
export const SESSION_TYPES: readonly Relevant['type'][] = [
  'SessionStarted', 'RefreshTokenRotated', 'RefreshTokenReuseDetected', 'SessionRevoked', 'UserErased',
];
const TYPES: ReadonlySet<string> = new Set(SESSION_TYPES);

const isRelevant = (e: Decoded): e is Relevant => TYPES.has(e.type);

const idOf = (id: string): string => id.toLowerCase();

/**
 * What a batch does to one session, folded from its events alone (no read of the row):
 * the start (if in the batch), the latest use (the rotation a sequential fold would end
 * on: the latest `occurredAt`, a later event winning a tie) and the first revocation. SQL
 * merges it into the row, if any, with the same rules (see writeChanges).
 */
interface SessionChange {
  id: string;
  user_id: string;
  started: boolean;
  created_at: Date | null;
  start_expires_at: Date | null;
  ip: string | null;
  user_agent: string | null;
  used_at: Date | null;
  used_expires_at: Date | null;
  revoked_at: Date | null;
  revoked_reason: string | null;
}

/** Folds the batch into one change per session, and the users it erases (first erasure each). */
function fold(events: readonly Relevant[]): { changes: Map<string, SessionChange>; erasedNow: Map<string, Date> } {
  const changes = new Map<string, SessionChange>();
  const erasedNow = new Map<string, Date>();
  for (const e of events) {
    if (e.type === 'UserErased') {
      const userId = idOf(e.data.user_id);
      if (!erasedNow.has(userId)) erasedNow.set(userId, e.occurredAt);
      continue;
    }
    const id = idOf(e.data.session_id);
    let c = changes.get(id);
    if (!c) {
      c = {
        id, user_id: idOf(e.data.user_id), started: false, created_at: null, start_expires_at: null, ip: null, user_agent: null,
        used_at: null, used_expires_at: null, revoked_at: null, revoked_reason: null,
      };
      changes.set(id, c);
    }
    switch (e.type) {
      case 'SessionStarted':
        if (c.started) break;
        c.started = true;
        c.created_at = e.occurredAt;
        c.start_expires_at = new Date(e.data.expires_at);
        // A start after its user's erasure in this same batch keeps no ip or user agent (one
        // before it is stripped by applyErasures; erasures of earlier batches by SQL).
        if (!erasedNow.has(c.user_id)) {
          c.ip = e.metadata.ip;
          c.user_agent = e.metadata.user_agent;
        }
        break;
      case 'RefreshTokenRotated':
        if (c.used_at === null || e.occurredAt.getTime() >= c.used_at.getTime()) {
          c.used_at = e.occurredAt;
          c.used_expires_at = new Date(e.data.expires_at);
        }
        break;
      case 'SessionRevoked':
        if (c.revoked_at === null) {
          c.revoked_at = e.occurredAt;
          c.revoked_reason = e.data.reason;
        }
        break;
      case 'RefreshTokenReuseDetected':
        break; // recorded in `activity`; the SessionRevoked that follows revokes
    }
  }
  return { changes, erasedNow };
}

/** The columns of a SessionRow, for selects. */
export const SESSION_COLUMNS = 'id, user_id, created_at, last_used_at, expires_at, user_agent, ip, revoked_at, revoked_reason';

/**
 * One statement: sessions started in the batch are inserted (without ip and user agent if
 * their user was erased in an earlier batch; a replayed start that finds its row applies
 * only the use and revocation); the others are updated if they exist (events of a session
 * never started change nothing). A use applies if it is not older than the row's last use;
 * the first revocation wins. The same outcome as folding the events one by one into the row.
 */
async function writeChanges(tx: SqlExecutor, t: string, erasures: string, changes: readonly SessionChange[]): Promise<void> {
  if (changes.length === 0) return;
  await tx.query(
    `with c as (
       select * from jsonb_to_recordset($1::jsonb) as c(
         id uuid, user_id uuid, started boolean, created_at timestamptz, start_expires_at timestamptz,
         ip text, user_agent text, used_at timestamptz, used_expires_at timestamptz,
         revoked_at timestamptz, revoked_reason text)),
     erased as (
       select user_id from ${erasures} where user_id in (select user_id from c where started)),
     inserted as (
       insert into ${t} as s (${SESSION_COLUMNS})
       select c.id, c.user_id, c.created_at,
              case when c.used_at >= c.created_at then c.used_at else c.created_at end,
              case when c.used_at >= c.created_at then c.used_expires_at else c.start_expires_at end,
              case when erased.user_id is null then c.user_agent end,
              case when erased.user_id is null then c.ip end,
              c.revoked_at, c.revoked_reason
       from c left join erased on erased.user_id = c.user_id
       where c.started
       on conflict (id) do update set
         last_used_at = case when excluded.last_used_at >= s.last_used_at then excluded.last_used_at else s.last_used_at end,
         expires_at = case when excluded.last_used_at >= s.last_used_at then excluded.expires_at else s.expires_at end,
         revoked_at = coalesce(s.revoked_at, excluded.revoked_at),
         revoked_reason = case when s.revoked_at is null then excluded.revoked_reason else s.revoked_reason end)
     update ${t} s set
       last_used_at = case when c.used_at >= s.last_used_at then c.used_at else s.last_used_at end,
       expires_at = case when c.used_at >= s.last_used_at then c.used_expires_at else s.expires_at end,
       revoked_at = coalesce(s.revoked_at, c.revoked_at),
       revoked_reason = case when s.revoked_at is null then c.revoked_reason else s.revoked_reason end
     from c
     where s.id = c.id and not c.started`,
    [JSON.stringify(changes)]);
}

/** Records the erasures and strips ip and user agent from every session of those users. */
async function applyErasures(tx: SqlExecutor, sessions: string, erasures: string, erased: Map<string, Date>): Promise<void> {
  if (erased.size === 0) return;
  const users = [...erased.keys()];
  await tx.query(
    `insert into ${erasures} (user_id, erased_at)
     select * from unnest($1::uuid[], $2::timestamptz[])
     on conflict (user_id) do nothing`,
    [users, [...erased.values()].map((d) => d.toISOString())]);
  await forgetNetworkData(tx, sessions, users);
}

export const sessionsProjection: Projection = {
  name: 'sessions',
  version: 1,
  writesOnly: true,
  tables: ['sessions', 'session_erasures'],
  types: SESSION_TYPES,

  async setup(tx: SqlExecutor, table: TableNamer): Promise<void> {
    const t = table('sessions');
    await tx.query(`create table if not exists ${t} (
      id uuid primary key,
      user_id uuid not null,
      created_at timestamptz not null,
      last_used_at timestamptz not null,
      expires_at timestamptz not null,
      user_agent text,
      ip text,
      revoked_at timestamptz,
      revoked_reason text
    )`);
    await tx.query(`create index if not exists ${indexName(t, 'user')} on ${t} (user_id, created_at desc)`);
    await tx.query(`create index if not exists ${indexName(t, 'revoked')} on ${t} (revoked_at) where revoked_at is not null`);
    const erasures = table('session_erasures');
    await tx.query(`create table if not exists ${erasures} (
      user_id uuid primary key,
      erased_at timestamptz not null
    )`);
  },

  async apply(tx: SqlExecutor, events: Decoded[], table: TableNamer): Promise<void> {
    const relevant = events.filter(isRelevant);
    if (relevant.length === 0) return;
    const t = table('sessions');
    const erasures = table('session_erasures');
    const { changes, erasedNow } = fold(relevant);
    await writeChanges(tx, t, erasures, [...changes.values()]);
    await applyErasures(tx, t, erasures, erasedNow);
  },
};
