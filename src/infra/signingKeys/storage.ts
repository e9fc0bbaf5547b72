/** The `signing_keys` table: its migrations, row shape, lock and the lookups of the current and next key. */
import type { SqlExecutor } from '../../ports/sql.js';

export const SIGNING_KEY_MIGRATIONS = [
  {
    version: 1,
    name: 'signing keys',
    sql: `create table authstream.signing_keys (
    kid text primary key,
    sealed_private_key text not null,
    public_jwk jsonb not null,
    created_at timestamptz not null default clock_timestamp(),
    retired_at timestamptz
  )`,
  },
  {
    // Keys made before this migration signed from their creation until the next one was
    // made: that is when they were activated and retired. A key with activated_at null is
    // the pre-published next key.
    version: 2,
    name: 'signing keys: next, current and retired',
    sql: `alter table authstream.signing_keys add column activated_at timestamptz;
    update authstream.signing_keys set activated_at = created_at;
    update authstream.signing_keys k set retired_at = s.successor_created_at
      from (select kid, lead(created_at) over (order by created_at, kid) as successor_created_at
              from authstream.signing_keys) s
     where k.kid = s.kid and s.successor_created_at is not null and k.retired_at is null`,
  },
];

export interface KeyRow {
  kid: string;
  sealed_private_key: string;
  public_jwk: unknown;
  created_at: Date;
  activated_at: Date | null;
  retired_at: Date | null;
}

export const LOCK = `select pg_advisory_xact_lock(hashtext('authstream.signing_keys'))`;

export async function currentKid(tx: SqlExecutor): Promise<string | null> {
  const { rows } = await tx.query<{ kid: string }>(
    `select kid from authstream.signing_keys where activated_at is not null and retired_at is null
      order by activated_at desc, created_at desc, kid limit 1`);
  return rows[0]?.kid ?? null;
}

export async function nextKid(tx: SqlExecutor): Promise<string | null> {
  const { rows } = await tx.query<{ kid: string }>(
    `select kid from authstream.signing_keys where activated_at is null and retired_at is null
      order by created_at desc, kid limit 1`);
  return rows[0]?.kid ?? null;
}
