/**
 * Per-user data keys for crypto-shredding. They live in PostgreSQL, outside the event
 * store, wrapped (AES-256-GCM) by a key derived from the master key. Destroying a user's
 * key makes every personal field of theirs unreadable in every event, without rewriting
 * history. Unwrapped keys are cached in memory; `forget` drops one from the cache (every
 * instance does so when it sees UserErased). Each key also has a reference (`ref`), a
 * random id standing for the user in events that must not name them (PSEUDONYMOUS in
 * domain/events.ts); destroying the key removes the reference with it.
 */
import { randomUUID } from 'node:crypto';
import { BoundedMap } from '../lib/boundedMap.js';
import { deriveKey, newDataKey, open, seal } from './crypto.js';
import { migrate } from './sql/migrate.js';
import type { KeyStore } from '../ports/keyStore.js';
import type { Sql } from '../ports/sql.js';

const MIGRATIONS = [{
  version: 1,
  name: 'data keys',
  sql: `create table authstream.data_keys (
    user_id uuid primary key,
    wrapped_key text,
    created_at timestamptz not null default now(),
    destroyed_at timestamptz
  )`,
}, {
  version: 2,
  name: 'key references',
  sql: `alter table authstream.data_keys add column ref uuid unique`,
}];

const CACHE_LIMIT = 50_000;
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

export class PgKeyStore implements KeyStore {
  readonly #sql: Sql;
  readonly #wrapKey: Buffer;
  readonly #cache = new BoundedMap<string, Buffer | null>(CACHE_LIMIT);
  readonly #refs = new BoundedMap<string, string>(CACHE_LIMIT);
  /** ref → user; null for a ref whose key is destroyed (refs are random: never reused). */
  readonly #users = new BoundedMap<string, string | null>(CACHE_LIMIT);

  private constructor(sql: Sql, master: Buffer) {
    this.#sql = sql;
    this.#wrapKey = deriveKey(master, 'data-key-wrapping');
  }

  static async open(sql: Sql, master: Buffer): Promise<PgKeyStore> {
    await migrate(sql, 'keys', MIGRATIONS);
    return new PgKeyStore(sql, master);
  }

  async create(userId: string): Promise<Buffer> {
    const key = newDataKey();
    const wrapped = seal(this.#wrapKey, key, userId);
    const { rows } = await this.#sql.query<{ wrapped_key: string | null }>(
      `insert into authstream.data_keys (user_id, wrapped_key) values ($1, $2)
       on conflict (user_id) do update set user_id = excluded.user_id
       returning wrapped_key`,
      [userId, wrapped],
    );
    const stored = rows[0]?.wrapped_key ?? null;
    const unwrapped = stored === null ? null : open(this.#wrapKey, stored, userId);
    if (!unwrapped) throw new Error(`data key of ${userId} was destroyed`);
    this.#remember(userId, unwrapped);
    return unwrapped;
  }

  async createMany(userIds: readonly string[]): Promise<void> {
    if (userIds.length === 0) return;
    const wrapped = userIds.map((id) => seal(this.#wrapKey, newDataKey(), id));
    const refs = userIds.map(() => randomUUID());
    const { rows } = await this.#sql.query<{ user_id: string; wrapped_key: string | null; ref: string | null }>(
      `insert into authstream.data_keys (user_id, wrapped_key, ref)
       select * from unnest($1::uuid[], $2::text[], $3::uuid[])
       on conflict (user_id) do update set user_id = excluded.user_id
       returning user_id::text, wrapped_key, ref::text`,
      [userIds, wrapped, refs],
    );
    for (const row of rows) {
      const key = row.wrapped_key === null ? null : open(this.#wrapKey, row.wrapped_key, row.user_id);
      if (!key) continue;
      this.#remember(row.user_id, key);
      if (row.ref !== null) this.#link(row.user_id, row.ref);
    }
  }

  async warm(userIds: readonly string[], refs: readonly string[]): Promise<void> {
    const users = [...new Set(userIds)].filter((id) => UUID.test(id) && this.#cache.get(id) === undefined);
    const unknownRefs = [...new Set(refs)].filter((ref) => UUID.test(ref) && this.#users.get(ref) === undefined);
    if (users.length === 0 && unknownRefs.length === 0) return;
    const { rows } = await this.#sql.query<{ user_id: string; wrapped_key: string | null; ref: string | null }>(
      `select user_id::text, wrapped_key, ref::text from authstream.data_keys
       where user_id = any($1::uuid[]) or ref = any($2::uuid[])`,
      [users, unknownRefs],
    );
    const found = new Set<string>();
    for (const row of rows) {
      if (row.ref !== null) found.add(row.ref);
      if (row.wrapped_key === null) continue; // destroyed: get() and userOfRef() say so themselves
      const key = open(this.#wrapKey, row.wrapped_key, row.user_id);
      if (key) this.#remember(row.user_id, key);
      if (row.ref !== null) this.#link(row.user_id, row.ref);
    }
    // A ref in an event was created before the event was written: missing now means destroyed.
    for (const ref of unknownRefs) if (!found.has(ref)) this.#users.set(ref, null);
  }

  async get(userId: string): Promise<Buffer | null> {
    const cached = this.#cache.get(userId);
    if (cached !== undefined) return cached;
    const { rows } = await this.#sql.query<{ wrapped_key: string | null }>(
      `select wrapped_key from authstream.data_keys where user_id = $1`, [userId]);
    const wrapped = rows[0]?.wrapped_key ?? null;
    const key = wrapped === null ? null : open(this.#wrapKey, wrapped, userId);
    // Only remember present keys: a missing key may be created a moment later.
    if (key) this.#remember(userId, key);
    return key;
  }

  async destroy(userId: string): Promise<void> {
    await this.#sql.query(
      `insert into authstream.data_keys (user_id, wrapped_key, destroyed_at) values ($1, null, now())
       on conflict (user_id) do update set wrapped_key = null, ref = null,
         destroyed_at = coalesce(authstream.data_keys.destroyed_at, now())`,
      [userId],
    );
    this.forget(userId);
    this.#cache.set(userId, null);
  }

  forget(userId: string): void {
    this.#cache.delete(userId);
    const ref = this.#refs.get(userId);
    this.#refs.delete(userId);
    if (ref !== undefined) this.#users.set(ref, null);
  }

  async refOf(userId: string): Promise<string | null> {
    const cached = this.#refs.get(userId);
    if (cached !== undefined) return cached;
    const { rows } = await this.#sql.query<{ ref: string | null }>(
      `update authstream.data_keys set ref = coalesce(ref, $2::uuid)
       where user_id = $1 and wrapped_key is not null returning ref::text`,
      [userId, randomUUID()],
    );
    const ref = rows[0]?.ref ?? null;
    if (ref !== null) this.#link(userId, ref);
    return ref;
  }

  async userOfRef(ref: string): Promise<string | null> {
    const cached = this.#users.get(ref);
    if (cached !== undefined) return cached;
    if (!/^[0-9a-f-]{36}$/.test(ref)) return null;
    const { rows } = await this.#sql.query<{ user_id: string }>(
      `select user_id::text from authstream.data_keys where ref = $1::uuid and wrapped_key is not null`, [ref]);
    const userId = rows[0]?.user_id ?? null;
    // A ref in an event was created before the event was written: missing now means destroyed.
    if (userId === null) this.#users.set(ref, null);
    else this.#link(userId, ref);
    return userId;
  }

  #link(userId: string, ref: string): void {
    this.#refs.set(userId, ref);
    this.#users.set(ref, userId);
  }

  #remember(userId: string, key: Buffer): void {
    this.#cache.set(userId, key);
  }
}
