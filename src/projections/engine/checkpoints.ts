/**
 * Checkpoints of the SQL projections and the leases of running rebuilds.
 *
 * A checkpoint is the global position of the last event a projection has applied (every
 * event up to it, including the ones it ignores). Position 0 means "nothing applied yet":
 * both event stores hand out positions above 0 to application events.
 */
import { migrate, type Migration } from '../../infra/sql/migrate.js';
import { int8, type Sql, type SqlExecutor, type Statement } from '../../ports/sql.js';

const CHECKPOINTS = 'authstream.projection_checkpoints';
const REBUILDS = 'authstream.projection_rebuilds';

export const PROJECTION_MIGRATIONS: readonly Migration[] = [
  {
    version: 1,
    name: 'projection checkpoints and rebuild leases',
    sql: `create table ${CHECKPOINTS} (
      name text primary key,
      position bigint not null default 0,
      version int not null,
      updated_at timestamptz not null default now()
    );
    create table ${REBUILDS} (
      name text primary key,
      owner text not null,
      started_at timestamptz not null,
      heartbeat_at timestamptz not null
    )`,
  },
  {
    version: 2,
    name: 'parked events',
    sql: `create table authstream.parked_events (
      position bigint primary key,
      event_id uuid not null,
      stream_id text not null,
      type text not null,
      reason text not null,
      parked_at timestamptz not null default now()
    )`,
  },
];

export async function migrateProjections(sql: Sql): Promise<void> {
  await migrate(sql, 'projections', PROJECTION_MIGRATIONS);
}

export interface Checkpoint {
  position: bigint;
  version: number;
}

export async function readCheckpoint(db: SqlExecutor, name: string): Promise<Checkpoint | null> {
  const { rows } = await db.query<{ position: unknown; version: number }>(
    `select position, version from ${CHECKPOINTS} where name = $1`, [name]);
  const row = rows[0];
  return row ? { position: int8(row.position), version: row.version } : null;
}

/** Locks the projection's checkpoint row until the transaction ends; returns its position. */
export async function lockCheckpoint(tx: SqlExecutor, name: string): Promise<bigint> {
  const { rows } = await tx.query<{ position: unknown }>(
    `select position from ${CHECKPOINTS} where name = $1 for update`, [name]);
  const row = rows[0];
  if (!row) throw new Error(`projection ${name} has no checkpoint row (was the runner started?)`);
  return int8(row.position);
}

/**
 * The statement that locks the checkpoint rows of several projections (in name order, so
 * two instances never deadlock) until the transaction ends. Without parameters, so it can
 * travel with BEGIN (Sql.transaction's `first`): the names are quoted as SQL literals.
 */
export function lockCheckpointsStatement(names: readonly string[]): string {
  const literals = names.map((n) => `'${n.replaceAll("'", "''")}'`).join(', ');
  return `select name, position from ${CHECKPOINTS} where name in (${literals}) order by name for update`;
}

/** The positions from lockCheckpointsStatement's rows; every name must have one. */
export function checkpointPositions(rows: readonly Record<string, unknown>[], names: readonly string[]): Map<string, bigint> {
  const positions = new Map(rows.map((r) => [String(r.name), int8(r.position)]));
  for (const name of names) {
    if (!positions.has(name)) throw new Error(`projection ${name} has no checkpoint row (was the runner started?)`);
  }
  return positions;
}

/** What advanceCheckpointsStatement fails with when a checkpoint was not where expected. */
export const CHECKPOINTS_MOVED = 'projection checkpoints moved';

/**
 * Moves the checkpoints of several projections from where this runner left them
 * (`expected`) to `position`, and fails, aborting its transaction, unless every one of them
 * was still there: for a batch sent in one go (Sql.pipelinedBatch), where nothing can be
 * checked before the COMMIT that follows it. Plain SQL has no RAISE: the failure is the
 * cast of this message to int (`invalid input syntax for type integer: "projection
 * checkpoints moved"`), which PostgreSQL also logs.
 */
export function advanceCheckpointsStatement(expected: ReadonlyMap<string, bigint>, position: bigint): Statement {
  return {
    text: `with advanced as (
      update ${CHECKPOINTS} c set position = $3::bigint, updated_at = now()
      from unnest($1::text[], $2::bigint[]) as e(name, position)
      where c.name = e.name and c.position = e.position
      returning c.name)
    select (case when count(*) = cardinality($1::text[]) then '1' else '${CHECKPOINTS_MOVED}' end)::int as advanced from advanced`,
    params: [[...expected.keys()], [...expected.values()].map(String), position.toString()],
  };
}

/** Moves the checkpoints of several projections to one position, in one statement. */
export async function saveCheckpoints(tx: SqlExecutor, names: readonly string[], position: bigint): Promise<void> {
  await tx.query(
    `update ${CHECKPOINTS} set position = $2::bigint, updated_at = now() where name = any($1::text[])`,
    [names, position.toString()]);
}

export async function saveCheckpoint(tx: SqlExecutor, name: string, position: bigint, version?: number): Promise<void> {
  await tx.query(
    `update ${CHECKPOINTS} set position = $2::bigint, version = coalesce($3::int, version), updated_at = now()
     where name = $1`,
    [name, position.toString(), version ?? null]);
}

/** Creates the checkpoint row of a projection seen for the first time (at position 0). */
export async function insertCheckpoint(tx: SqlExecutor, name: string, version: number): Promise<void> {
  await tx.query(
    `insert into ${CHECKPOINTS} (name, position, version) values ($1, 0, $2)
     on conflict (name) do update set position = 0, version = excluded.version, updated_at = now()`,
    [name, version]);
}

/** Serialises the set-up of one projection between instances (transaction-scoped). */
export async function lockProjectionSetup(tx: SqlExecutor, name: string): Promise<void> {
  await tx.query(`select pg_advisory_xact_lock(hashtext('authstream.projection.setup'), hashtext($1))`, [name]);
}

/// Rebuild leases: one rebuild per projection at a time, across instances.

export class RebuildInProgressError extends Error {
  readonly projection: string;
  constructor(projection: string) {
    super(`a rebuild of projection ${projection} is already running`);
    this.name = 'RebuildInProgressError';
    this.projection = projection;
  }
}

export class RebuildLeaseLostError extends Error {
  constructor(projection: string) {
    super(`the rebuild of projection ${projection} lost its lease to another instance`);
    this.name = 'RebuildLeaseLostError';
  }
}

/** Takes the lease, or takes over one whose holder stopped heart-beating `staleMs` ago. */
export async function claimRebuildLease(db: SqlExecutor, name: string, owner: string, staleMs: number): Promise<void> {
  const { rows } = await db.query(
    `insert into ${REBUILDS} as r (name, owner, started_at, heartbeat_at) values ($1, $2, now(), now())
     on conflict (name) do update set owner = excluded.owner, started_at = now(), heartbeat_at = now()
     where r.heartbeat_at < now() - $3::int * interval '1 millisecond'
     returning owner`,
    [name, owner, staleMs]);
  if (rows.length === 0) throw new RebuildInProgressError(name);
}

/** Proves the lease is still ours (and renews it) inside the transaction that writes the shadow. */
export async function renewRebuildLease(tx: SqlExecutor, name: string, owner: string): Promise<void> {
  const { rows } = await tx.query(
    `update ${REBUILDS} set heartbeat_at = now() where name = $1 and owner = $2 returning owner`, [name, owner]);
  if (rows.length === 0) throw new RebuildLeaseLostError(name);
}

/** Ends the lease; false when it was not (or no longer) held by `owner`. */
export async function releaseRebuildLease(db: SqlExecutor, name: string, owner: string): Promise<boolean> {
  const { rows } = await db.query(`delete from ${REBUILDS} where name = $1 and owner = $2 returning owner`, [name, owner]);
  return rows.length > 0;
}
