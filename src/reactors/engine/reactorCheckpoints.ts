/**
 * The reactors' table: one row per reactor with its checkpoint (the position it has acted
 * up to), its lease (which instance acts, until when, by the database clock) and the event
 * it is stuck on. Every write of a checkpoint is conditioned on holding the lease, so an
 * instance that lost it can never move a checkpoint.
 */
import { migrate } from '../../infra/sql/migrate.js';
import { int8, type Sql } from '../../ports/sql.js';

const T = 'authstream.reactor_checkpoints';

export async function migrateReactors(sql: Sql): Promise<void> {
  await migrate(sql, 'reactors', [{
    version: 1,
    name: 'reactor checkpoints',
    sql: `create table ${T} (
      name text primary key,
      position bigint not null,
      owner text,
      lease_until timestamptz,
      failing_position bigint,
      failing_attempts int not null default 0,
      failing_since timestamptz,
      failing_reason text,
      updated_at timestamptz not null default now()
    )`,
  }]);
}

/** Creates the reactor's row at `start` unless it has one (first sight; instances may race). */
export async function ensureReactor(sql: Sql, name: string, start: bigint): Promise<void> {
  await sql.query(`insert into ${T} (name, position) values ($1, $2) on conflict (name) do nothing`, [name, start.toString()]);
}

/**
 * Takes or renews the lease for `leaseMs`: succeeds when nobody holds it, `me` does, or
 * the holder's lease ran out. Returns the checkpoint, or null when another instance holds it.
 */
export async function acquireLease(sql: Sql, name: string, me: string, leaseMs: number): Promise<bigint | null> {
  const { rows } = await sql.query<{ position: unknown }>(
    `update ${T} set owner = $2, lease_until = now() + ($3::int * interval '1 millisecond')
     where name = $1 and (owner is null or owner = $2 or lease_until < now())
     returning position`,
    [name, me, leaseMs]);
  return rows[0] ? int8(rows[0].position) : null;
}

export async function releaseLease(sql: Sql, name: string, me: string): Promise<void> {
  await sql.query(`update ${T} set owner = null, lease_until = null where name = $1 and owner = $2`, [name, me]);
}

/** Moves the checkpoint to `position` (and clears a failure); false when `me` no longer holds the lease. */
export async function advance(sql: Sql, name: string, me: string, position: bigint): Promise<boolean> {
  const { rowCount } = await sql.query(
    `update ${T} set position = greatest(position, $3), failing_position = null, failing_attempts = 0,
       failing_since = null, failing_reason = null, updated_at = now()
     where name = $1 and owner = $2`,
    [name, me, position.toString()]);
  return rowCount > 0;
}

export async function recordFailure(sql: Sql, name: string, me: string, position: bigint, attempts: number, reason: string): Promise<void> {
  await sql.query(
    `update ${T} set failing_position = $3, failing_attempts = $4, failing_reason = $5,
       failing_since = case when failing_position = $3 then coalesce(failing_since, now()) else now() end, updated_at = now()
     where name = $1 and owner = $2`,
    [name, me, position.toString(), attempts, reason]);
}

export interface ReactorRow {
  name: string;
  position: bigint;
  owner: string | null;
  leaseLive: boolean;
  failing: { position: bigint; attempts: number; since: Date; reason: string } | null;
}

export async function readReactors(sql: Sql, names: readonly string[]): Promise<ReactorRow[]> {
  const { rows } = await sql.query<{
    name: string; position: unknown; owner: string | null; lease_live: boolean;
    failing_position: unknown; failing_attempts: number; failing_since: Date | null; failing_reason: string | null;
  }>(
    `select name, position, owner, coalesce(lease_until > now(), false) as lease_live,
            failing_position, failing_attempts, failing_since, failing_reason
     from ${T} where name = any($1::text[]) order by name`, [names]);
  return rows.map((r) => ({
    name: r.name,
    position: int8(r.position),
    owner: r.owner,
    leaseLive: r.lease_live,
    failing: r.failing_position === null || r.failing_since === null ? null : {
      position: int8(r.failing_position), attempts: r.failing_attempts, since: new Date(r.failing_since), reason: r.failing_reason ?? '',
    },
  }));
}
