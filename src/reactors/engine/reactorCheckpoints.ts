/**
 * The reactors' table: one row per reactor with its checkpoint (the position it has acted
 * up to), its lease (which instance acts, until when, by the database clock), a generation
 * (bumped by a rewind) and the event it is stuck on. Every write of a checkpoint is
 * conditioned on holding the lease in the generation the holder read, so an instance that
 * lost the lease (or missed a rewind) can never move a checkpoint.
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
  }, {
    version: 2,
    name: 'reactor generations',
    sql: `alter table ${T} add column generation bigint not null default 0`,
  }]);
}

/** Creates the reactor's row at `start` unless it has one (first sight; instances may race). */
export async function ensureReactor(sql: Sql, name: string, start: bigint): Promise<void> {
  await sql.query(`insert into ${T} (name, position) values ($1, $2) on conflict (name) do nothing`, [name, start.toString()]);
}

/** Where a lease holder stands, as it read the row when taking the lease. */
export interface Held {
  position: bigint;
  /** Bumped by a rewind: a holder that read an older one must read the checkpoint again. */
  generation: bigint;
  /** The event it was stuck on, and how many attempts failed (they go on counting from there). */
  failing: { position: bigint; attempts: number } | null;
}

/**
 * Takes or renews the lease for `leaseMs` (by the database clock): succeeds when nobody
 * holds it, `me` does, or the holder's lease ran out. Returns the row, or null when
 * another instance holds it.
 */
export async function acquireLease(sql: Sql, name: string, me: string, leaseMs: number): Promise<Held | null> {
  const { rows } = await sql.query<{ position: unknown; generation: unknown; failing_position: unknown; failing_attempts: number }>(
    `update ${T} set owner = $2, lease_until = now() + ($3::int * interval '1 millisecond')
     where name = $1 and (owner is null or owner = $2 or lease_until < now())
     returning position, generation, failing_position, failing_attempts`,
    [name, me, Math.ceil(leaseMs)]);
  const row = rows[0];
  if (!row) return null;
  return {
    position: int8(row.position),
    generation: int8(row.generation),
    failing: row.failing_position === null ? null : { position: int8(row.failing_position), attempts: row.failing_attempts },
  };
}

/** Gives the lease up (a standby may take it at once); a no-op unless `me` holds it. */
export async function releaseLease(sql: Sql, name: string, me: string): Promise<void> {
  await sql.query(`update ${T} set owner = null, lease_until = null where name = $1 and owner = $2`, [name, me]);
}

/**
 * Moves the checkpoint to `position` (never back) and clears a failure; false when `me`
 * no longer holds the lease or the checkpoint was rewound since `generation` was read.
 */
export async function advance(sql: Sql, name: string, me: string, generation: bigint, position: bigint): Promise<boolean> {
  const { rowCount } = await sql.query(
    `update ${T} set position = greatest(position, $3), failing_position = null, failing_attempts = 0,
       failing_since = null, failing_reason = null, updated_at = now()
     where name = $1 and owner = $2 and generation = $4`,
    [name, me, position.toString(), generation.toString()]);
  return rowCount > 0;
}

/** Records that the reaction to the event at `position` failed `attempts` times (held lease and generation only). */
export async function recordFailure(
  sql: Sql, name: string, me: string, generation: bigint, failure: { position: bigint; attempts: number; reason: string },
): Promise<void> {
  await sql.query(
    `update ${T} set failing_position = $3, failing_attempts = $4, failing_reason = $5,
       failing_since = case when failing_position = $3 then coalesce(failing_since, now()) else now() end, updated_at = now()
     where name = $1 and owner = $2 and generation = $6`,
    [name, me, failure.position.toString(), failure.attempts, failure.reason, generation.toString()]);
}

/**
 * Moves the checkpoint back to `position` (a replay): the next events acted on are those
 * after it. Whoever holds the lease sees the new generation at its next renewal or write
 * and reads the checkpoint again. False when there is no such reactor.
 */
export async function rewind(sql: Sql, name: string, position: bigint): Promise<boolean> {
  const { rowCount } = await sql.query(
    `update ${T} set position = $2, generation = generation + 1, failing_position = null, failing_attempts = 0,
       failing_since = null, failing_reason = null, updated_at = now()
     where name = $1`,
    [name, position.toString()]);
  return rowCount > 0;
}

export interface ReactorRow {
  name: string;
  position: bigint;
  owner: string | null;
  /** Its lease has not run out (by the database clock). */
  leaseLive: boolean;
  failing: { position: bigint; attempts: number; since: Date; reason: string } | null;
}

/** The rows of these reactors (null: of every reactor, as the CLI lists them). */
export async function readReactors(sql: Sql, names: readonly string[] | null): Promise<ReactorRow[]> {
  const { rows } = await sql.query<{
    name: string; position: unknown; owner: string | null; lease_live: boolean;
    failing_position: unknown; failing_attempts: number; failing_since: Date | null; failing_reason: string | null;
  }>(
    `select name, position, owner, coalesce(lease_until > now(), false) as lease_live,
            failing_position, failing_attempts, failing_since, failing_reason
     from ${T} where $1::text[] is null or name = any($1::text[]) order by name`, [names]);
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

/** The stored checkpoint of one reactor (null: no such reactor). */
export async function readPosition(sql: Sql, name: string): Promise<bigint | null> {
  const { rows } = await sql.query<{ position: unknown }>(`select position from ${T} where name = $1`, [name]);
  return rows[0] ? int8(rows[0].position) : null;
}

/** Since when the reactor has been failing on the event at `position` (null: it is not). */
export async function failingSince(sql: Sql, name: string, position: bigint): Promise<Date | null> {
  const { rows } = await sql.query<{ since: Date | null }>(
    `select failing_since as since from ${T} where name = $1 and failing_position = $2`, [name, position.toString()]);
  return rows[0]?.since ? new Date(rows[0].since) : null;
}
