/**
 * Read model `sessions`: one row per session, for "your devices" views and for finding a
 * user's sessions to revoke. No token hashes: they are secrets.
 *
 * `ip` and `user_agent` come from SessionStarted's decrypted metadata. They are personal
 * data: UserErased nulls them on every session of the user, and `session_erasures`
 * remembers erased users so a session whose start raced the erasure (and was decoded with
 * a still-cached key) is stored without them, exactly as a rebuild (key gone) stores it.
 *
 * Applied as load → fold → upsert (see users.ts). Replays leave the same rows: a start
 * only creates, a rotation older than the last use changes nothing, and the first
 * revocation wins.
 */
import type { SessionEvent, UserErased } from '../domain/events.js';
import type { Decoded } from '../infra/eventCodec.js';
import type { SqlExecutor } from '../infra/sql.js';
import type { Projection } from './runner.js';
import { indexName, type TableNamer } from './tables.js';

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
const isSessionEvent = (e: Relevant): e is Decoded<SessionEvent> => e.type !== 'UserErased';

const idOf = (id: string): string => id.toLowerCase();

/** The fold's state for one batch. */
interface Folding {
  rows: Map<string, SessionRow>;
  changed: Map<string, SessionRow>;
  erased: Set<string>;
  erasedNow: Map<string, Date>;
}

function put(s: Folding, row: SessionRow): void {
  s.rows.set(row.id, row);
  s.changed.set(row.id, row);
}

function evolve(s: Folding, e: Relevant): void {
  if (e.type === 'UserErased') {
    const userId = idOf(e.data.user_id);
    s.erased.add(userId);
    if (!s.erasedNow.has(userId)) s.erasedNow.set(userId, e.occurredAt);
    for (const row of s.rows.values()) {
      if (row.user_id === userId && (row.ip !== null || row.user_agent !== null)) put(s, { ...row, ip: null, user_agent: null });
    }
    return;
  }
  const id = idOf(e.data.session_id);
  const row = s.rows.get(id);
  switch (e.type) {
    case 'SessionStarted': {
      if (row) return;
      const userId = idOf(e.data.user_id);
      const erased = s.erased.has(userId);
      put(s, {
        id, user_id: userId, created_at: e.occurredAt, last_used_at: e.occurredAt,
        expires_at: new Date(e.data.expires_at),
        user_agent: erased ? null : e.metadata.user_agent,
        ip: erased ? null : e.metadata.ip,
        revoked_at: null, revoked_reason: null,
      });
      return;
    }
    case 'RefreshTokenRotated':
      if (!row || e.occurredAt.getTime() < row.last_used_at.getTime()) return;
      put(s, { ...row, last_used_at: e.occurredAt, expires_at: new Date(e.data.expires_at) });
      return;
    case 'SessionRevoked':
      if (!row || row.revoked_at !== null) return;
      put(s, { ...row, revoked_at: e.occurredAt, revoked_reason: e.data.reason });
      return;
    case 'RefreshTokenReuseDetected':
      return; // recorded in `activity`; the SessionRevoked that follows revokes
  }
}

/** The columns of a SessionRow, for selects. */
export const SESSION_COLUMNS = 'id, user_id, created_at, last_used_at, expires_at, user_agent, ip, revoked_at, revoked_reason';

async function loadSessions(tx: SqlExecutor, t: string, ids: readonly string[]): Promise<Map<string, SessionRow>> {
  if (ids.length === 0) return new Map();
  const { rows } = await tx.query<SessionRow>(`select ${SESSION_COLUMNS} from ${t} where id = any($1::uuid[])`, [ids]);
  return new Map(rows.map((r) => [idOf(r.id), { ...r, id: idOf(r.id), user_id: idOf(r.user_id) }]));
}

async function loadErased(tx: SqlExecutor, t: string, userIds: readonly string[]): Promise<Set<string>> {
  if (userIds.length === 0) return new Set();
  const { rows } = await tx.query<{ user_id: string }>(
    `select user_id from ${t} where user_id = any($1::uuid[])`, [userIds]);
  return new Set(rows.map((r) => idOf(r.user_id)));
}

async function upsertSessions(tx: SqlExecutor, t: string, rows: readonly SessionRow[]): Promise<void> {
  if (rows.length === 0) return;
  await tx.query(
    `insert into ${t} (${SESSION_COLUMNS})
     select ${SESSION_COLUMNS}
     from jsonb_to_recordset($1::jsonb) as r(
       id uuid, user_id uuid, created_at timestamptz, last_used_at timestamptz, expires_at timestamptz,
       user_agent text, ip text, revoked_at timestamptz, revoked_reason text)
     on conflict (id) do update set
       user_id = excluded.user_id, created_at = excluded.created_at,
       last_used_at = excluded.last_used_at, expires_at = excluded.expires_at,
       user_agent = excluded.user_agent, ip = excluded.ip,
       revoked_at = excluded.revoked_at, revoked_reason = excluded.revoked_reason`,
    [JSON.stringify(rows)]);
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
  await tx.query(
    `update ${sessions} set ip = null, user_agent = null
     where user_id = any($1::uuid[]) and (ip is not null or user_agent is not null)`,
    [users]);
}

export const sessionsProjection: Projection = {
  name: 'sessions',
  version: 1,
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
    const sessionEvents = relevant.filter(isSessionEvent);
    const starters = sessionEvents.filter((e) => e.type === 'SessionStarted').map((e) => idOf(e.data.user_id));
    const s: Folding = {
      rows: await loadSessions(tx, t, [...new Set(sessionEvents.map((e) => idOf(e.data.session_id)))]),
      changed: new Map(),
      erased: await loadErased(tx, erasures, [...new Set(starters)]),
      erasedNow: new Map(),
    };
    for (const e of relevant) evolve(s, e);
    await upsertSessions(tx, t, [...s.changed.values()]);
    await applyErasures(tx, t, erasures, s.erasedNow);
  },
};
