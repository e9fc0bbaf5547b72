/**
 * Read model `users`: one row per registered user, for lookups by email or phone and for
 * the admin search.
 *
 * A batch is applied as load → fold → upsert: the rows of the users it touches are read
 * once, every event is folded into them in order (in memory), and the changed rows are
 * written back with one multi-row upsert. Registration only creates a row that does not
 * exist yet, and an erased user stays erased whatever comes after, so replaying any suffix
 * of the history leaves the same rows.
 *
 * On UserErased no personal data remains: email and phone null, names '', roles '{}'.
 * Version 2 added email_verified and phone_verified (a version change rebuilds the table).
 * An imported user's created_at is when they joined the system they came from.
 */
import type { UserEvent } from '../../domain/events.js';
import type { Decoded } from '../../ports/events.js';
import type { SqlExecutor } from '../../ports/sql.js';
import type { Projection } from '../../ports/projections.js';
import { createSearchIndex } from './searchText.js';
import { indexName, type TableNamer } from '../engine/tables.js';

export type UserStatus = 'active' | 'disabled' | 'erased';

/** A row of `users`, as stored. */
export interface UserRow {
  id: string;
  email: string | null;
  phone: string | null;
  first_name: string;
  last_name: string;
  roles: string[];
  status: UserStatus;
  email_verified: boolean;
  phone_verified: boolean;
  created_at: Date;
  updated_at: Date;
}

/** The events this read model uses. */
export const USER_TYPES: readonly UserEvent['type'][] = [
  'UserRegistered', 'UserImported', 'ProfileUpdated', 'EmailChanged', 'PhoneChanged', 'PasswordChanged',
  'RoleGranted', 'RoleRevoked', 'UserDisabled', 'UserEnabled', 'UserErased',
  'PasswordReset', 'EmailVerified', 'PhoneVerified',
];
const USER_EVENT_TYPES: ReadonlySet<string> = new Set(USER_TYPES);

const isUserEvent = (e: Decoded): e is Decoded<UserEvent> => USER_EVENT_TYPES.has(e.type);

/** uuids compare lower-case (PostgreSQL returns them so). */
const idOf = (id: string): string => id.toLowerCase();

/** The row after one event; the same object when the event changes nothing. */
export function evolveUserRow(row: UserRow | undefined, e: Decoded<UserEvent>): UserRow | undefined {
  if (e.type === 'UserRegistered') {
    if (row) return row; // registration creates, never overwrites
    const d = e.data;
    return {
      id: idOf(d.user_id), email: d.email, phone: d.phone, first_name: d.first_name, last_name: d.last_name,
      roles: [...new Set(d.roles)], status: 'active', email_verified: false, phone_verified: false,
      created_at: e.occurredAt, updated_at: e.occurredAt,
    };
  }
  if (e.type === 'UserImported') {
    if (row) return row;
    const d = e.data;
    return {
      id: idOf(d.user_id), email: d.email, phone: d.phone, first_name: d.first_name, last_name: d.last_name,
      roles: [...new Set(d.roles)], status: d.disabled ? 'disabled' : 'active',
      email_verified: d.email_verified, phone_verified: d.phone_verified,
      created_at: new Date(d.joined_at), updated_at: e.occurredAt,
    };
  }
  if (!row || row.status === 'erased') return row;
  const next: UserRow = { ...row, updated_at: e.occurredAt };
  switch (e.type) {
    case 'ProfileUpdated':
      return { ...next, first_name: e.data.first_name, last_name: e.data.last_name };
    case 'EmailChanged':
      return { ...next, email: e.data.email, email_verified: false };
    case 'PhoneChanged':
      return { ...next, phone: e.data.phone, phone_verified: false };
    case 'PasswordChanged':
    case 'PasswordReset':
      return next;
    case 'EmailVerified':
      return { ...next, email_verified: true };
    case 'PhoneVerified':
      return { ...next, phone_verified: true };
    case 'RoleGranted':
      return next.roles.includes(e.data.role) ? next : { ...next, roles: [...next.roles, e.data.role] };
    case 'RoleRevoked':
      return { ...next, roles: next.roles.filter((r) => r !== e.data.role) };
    case 'UserDisabled':
      return { ...next, status: 'disabled' };
    case 'UserEnabled':
      return { ...next, status: 'active' };
    case 'UserErased':
      return {
        ...next, status: 'erased', email: null, phone: null, first_name: '', last_name: '', roles: [],
        email_verified: false, phone_verified: false,
      };
    default:
      return row; // a recovery request changes no column
  }
}

/** The columns of a UserRow, for selects. */
export const USER_COLUMNS = 'id, email, phone, first_name, last_name, roles, status, email_verified, phone_verified, created_at, updated_at';

async function loadUsers(tx: SqlExecutor, t: string, ids: readonly string[]): Promise<Map<string, UserRow>> {
  const { rows } = await tx.query<UserRow>(`select ${USER_COLUMNS} from ${t} where id = any($1::uuid[])`, [ids]);
  return new Map(rows.map((r) => [idOf(r.id), r]));
}

async function upsertUsers(tx: SqlExecutor, t: string, rows: readonly UserRow[]): Promise<void> {
  if (rows.length === 0) return;
  await tx.query(
    `insert into ${t} (${USER_COLUMNS})
     select ${USER_COLUMNS}
     from jsonb_to_recordset($1::jsonb) as r(
       id uuid, email text, phone text, first_name text, last_name text, roles text[], status text,
       email_verified boolean, phone_verified boolean, created_at timestamptz, updated_at timestamptz)
     on conflict (id) do update set
       email = excluded.email, phone = excluded.phone,
       first_name = excluded.first_name, last_name = excluded.last_name,
       roles = excluded.roles, status = excluded.status,
       email_verified = excluded.email_verified, phone_verified = excluded.phone_verified,
       created_at = excluded.created_at, updated_at = excluded.updated_at`,
    [JSON.stringify(rows)]);
}

export const usersProjection: Projection = {
  name: 'users',
  version: 3,
  tables: ['users'],
  types: USER_TYPES,

  async setup(tx: SqlExecutor, table: TableNamer): Promise<void> {
    const t = table('users');
    await tx.query(`create table if not exists ${t} (
      id uuid primary key,
      email text,
      phone text,
      first_name text not null,
      last_name text not null,
      roles text[] not null,
      status text not null check (status in ('active', 'disabled', 'erased')),
      email_verified boolean not null default false,
      phone_verified boolean not null default false,
      created_at timestamptz not null,
      updated_at timestamptz not null
    )`);
    await tx.query(`create index if not exists ${indexName(t, 'lower_email')} on ${t} (lower(email))`);
    await tx.query(`create index if not exists ${indexName(t, 'phone')} on ${t} (phone)`);
    // Keyset pagination of the search; its substring match goes through the trigram index.
    await tx.query(`create index if not exists ${indexName(t, 'created')} on ${t} (created_at, id)`);
    await createSearchIndex(tx, t);
  },

  async apply(tx: SqlExecutor, events: Decoded[], table: TableNamer): Promise<void> {
    const userEvents = events.filter(isUserEvent);
    if (userEvents.length === 0) return;
    const t = table('users');
    const rows = await loadUsers(tx, t, [...new Set(userEvents.map((e) => idOf(e.data.user_id)))]);
    const changed = new Map<string, UserRow>();
    for (const e of userEvents) {
      const id = idOf(e.data.user_id);
      const before = rows.get(id);
      const after = evolveUserRow(before, e);
      if (after && after !== before) {
        rows.set(id, after);
        changed.set(id, after);
      }
    }
    await upsertUsers(tx, t, [...changed.values()]);
  },
};
