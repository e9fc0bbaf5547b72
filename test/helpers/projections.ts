/**
 * Shared set-up of the projection tests: one database holding the PostgreSQL event store,
 * the data keys and the read models; a writer that encodes domain events with the codec
 * and appends them; snapshots of the read-model tables.
 */
import { randomBytes, randomUUID } from 'node:crypto';
import type { DomainEvent, SessionRevokedReason } from '../../src/domain/events.js';
import { identifierStream, loginsStream, sessionStream, SETTINGS_STREAM, userStream } from '../../src/domain/events.js';
import { PostgresEventStore } from '../../src/eventstore/postgres/store.js';
import type { AppendResult } from '../../src/ports/eventStore.js';
import { EventCodec } from '../../src/infra/eventCodec.js';
import type { Decoded, EventContext } from '../../src/ports/events.js';
import { PgKeyStore } from '../../src/infra/keyStore.js';
import type { Sql, SqlExecutor } from '../../src/ports/sql.js';
import { allProjections } from '../../src/projections/index.js';
import { ProjectionRunner, type ProjectionRunnerOptions, type RunnerLog } from '../../src/projections/engine/runner.js';
import type { Projection } from '../../src/ports/projections.js';
import { shadowTable } from '../../src/projections/engine/tables.js';
import { createTestDatabase, readAllSettled } from './db.js';

type Teardown = Parameters<typeof createTestDatabase>[0];

export interface Env {
  sql: Sql;
  url: string | undefined;
  store: PostgresEventStore;
  keys: PgKeyStore;
  codec: EventCodec;
  master: Buffer;
}

export async function openEnv(t: Teardown, options: { max?: number } = {}): Promise<Env> {
  const { sql, url } = await createTestDatabase(t, options);
  const store = await PostgresEventStore.open(sql, { pollIntervalMs: 50 });
  t.teardown(() => store.close());
  const master = randomBytes(32);
  const keys = await PgKeyStore.open(sql, master);
  return { sql, url, store, keys, codec: new EventCodec(keys), master };
}

/** A log that records errors (tests assert on them) instead of printing. */
export class TestLog implements RunnerLog {
  readonly errors: Array<{ obj: Record<string, unknown>; msg: string }> = [];
  error(obj: Record<string, unknown>, msg: string): void {
    this.errors.push({ obj, msg });
  }
}

export function makeRunner(
  env: Env,
  t: Teardown,
  extra: Partial<ProjectionRunnerOptions> = {},
): { runner: ProjectionRunner; log: TestLog } {
  const log = new TestLog();
  const runner = new ProjectionRunner({
    sql: env.sql, store: env.store, codec: env.codec, projections: allProjections(), log,
    retryFirstDelayMs: 20, retryMaxDelayMs: 200, ...extra,
  });
  t.teardown(() => runner.stop());
  return { runner, log };
}

/// Writing events

export interface Request {
  ip?: string | null;
  userAgent?: string | null;
}

/** Encodes and appends domain events; time advances one second per append. */
export class Writer {
  readonly env: Env;
  #clock = Date.parse('2020-01-01T00:00:00.000Z');

  constructor(env: Env) {
    this.env = env;
  }

  now(): Date {
    return new Date(this.#clock);
  }

  async append(stream: string, events: DomainEvent[], request: Request = {}): Promise<AppendResult> {
    this.#clock += 1000;
    const ctx: EventContext = {
      now: new Date(this.#clock), correlationId: randomUUID(), causationId: null, actorId: null, requestId: null,
      ip: request.ip ?? null, userAgent: request.userAgent ?? null,
    };
    const encoded = await Promise.all(events.map((e) => this.env.codec.encode(e, ctx, randomUUID())));
    return this.env.store.appendToStream(stream, encoded, { expectedRevision: 'any' });
  }

  async register(
    userId: string,
    p: { email?: string | null; phone?: string | null; first?: string; last?: string; roles?: string[] },
    request: Request = {},
  ): Promise<AppendResult> {
    await this.env.keys.create(userId);
    return this.append(userStream(userId), [{
      type: 'UserRegistered',
      data: {
        user_id: userId, email: p.email ?? null, phone: p.phone ?? null, first_name: p.first ?? 'First',
        last_name: p.last ?? 'Last', password_hash: '$argon2id$secret-hash', roles: p.roles ?? ['user'],
      },
    }], request);
  }

  user(userId: string, events: DomainEvent[], request: Request = {}): Promise<AppendResult> {
    return this.append(userStream(userId), events, request);
  }

  startSession(userId: string, sessionId: string, request: Request = {}, ttlDays = 30): Promise<AppendResult> {
    return this.append(sessionStream(sessionId), [{
      type: 'SessionStarted',
      data: {
        session_id: sessionId, user_id: userId, refresh_token_hash: `hash-${randomUUID()}`,
        expires_at: new Date(this.#clock + 1000 + ttlDays * 86_400_000).toISOString(), user_revision: '0',
      },
    }], request);
  }

  rotate(userId: string, sessionId: string, request: Request = {}, ttlDays = 30): Promise<AppendResult> {
    return this.append(sessionStream(sessionId), [{
      type: 'RefreshTokenRotated',
      data: {
        session_id: sessionId, user_id: userId, refresh_token_hash: `hash-${randomUUID()}`,
        expires_at: new Date(this.#clock + 1000 + ttlDays * 86_400_000).toISOString(),
      },
    }], request);
  }

  revoke(userId: string, sessionId: string, reason: SessionRevokedReason, request: Request = {}): Promise<AppendResult> {
    return this.append(sessionStream(sessionId), [
      { type: 'SessionRevoked', data: { session_id: sessionId, user_id: userId, reason } },
    ], request);
  }

  loginFailed(userId: string | null, request: Request = {}): Promise<AppendResult> {
    return this.append(loginsStream(`h${randomUUID()}`), [
      { type: 'LoginFailed', data: { user_id: userId, kind: 'email', reason: userId ? 'wrong_password' : 'unknown_identifier' } },
    ], request);
  }

  settings(): Promise<AppendResult> {
    return this.append(SETTINGS_STREAM, [{ type: 'SettingsChanged', data: { access_token_ttl_seconds: 600 } }]);
  }
}

/// The scenario used by several tests

export const ALICE = '0a11ce00-0000-4000-8000-000000000001';
export const BOB = '0b0b0000-0000-4000-8000-000000000002';
export const CAROL = '0ca201e0-0000-4000-8000-000000000003';
export const S = {
  a1: '5e551000-0000-4000-8000-0000000000a1',
  a2: '5e551000-0000-4000-8000-0000000000a2',
  a3: '5e551000-0000-4000-8000-0000000000a3',
  b1: '5e551000-0000-4000-8000-0000000000b1',
  b2: '5e551000-0000-4000-8000-0000000000b2',
  c1: '5e551000-0000-4000-8000-0000000000c1',
};

/** Everything Bob ever typed or sent: none of it may remain once he is erased. */
export const BOB_PERSONAL = ['bob@example.org', '+15550002', 'Robert', 'Builder', 'Bobby', '192.0.2.22', '192.0.2.23', 'BobAgent'];

const alice: Request = { ip: '198.51.100.1', userAgent: 'Firefox/140' };
const bob: Request = { ip: '192.0.2.22', userAgent: 'BobAgent/1.0' };

/**
 * Alice: every user event, three sessions (rotated; reuse-revoked; logged out), a failed
 * login. Bob: registered, a session, erased; a session start that raced the erasure
 * lands after it. Carol: registered, disabled. Plus events no read model uses.
 * `beforeErasure` runs just before Bob's key is destroyed (e.g. to let a runner apply
 * his events with the key still cached).
 */
export async function runScenario(w: Writer, beforeErasure?: () => Promise<void>): Promise<AppendResult> {
  await w.register(ALICE, { email: 'Alice@Example.com', phone: '+15550001', first: 'Alice', last: 'Liddell', roles: ['user'] }, alice);
  await w.register(BOB, { email: 'bob@example.org', phone: '+15550002', first: 'Robert', last: 'Builder' }, bob);
  await w.register(CAROL, { email: 'carol@example.net', first: 'Carol', last: 'Danvers', roles: [] });
  await w.settings();
  await w.append(identifierStream('alice-email-hmac'), [{ type: 'IdentifierClaimed', data: { user_id: ALICE, kind: 'email' } }]);
  await w.user(ALICE, [{ type: 'ProfileUpdated', data: { user_id: ALICE, first_name: 'Alicia', last_name: 'Liddell' } }], alice);
  await w.user(ALICE, [{ type: 'EmailChanged', data: { user_id: ALICE, email: 'alicia@example.com' } }], alice);
  await w.user(ALICE, [{ type: 'PhoneChanged', data: { user_id: ALICE, phone: '+15550009' } }], alice);
  await w.startSession(ALICE, S.a1, alice);
  await w.rotate(ALICE, S.a1, alice);
  await w.rotate(ALICE, S.a1, { ip: '198.51.100.2', userAgent: 'Firefox/141' });
  await w.startSession(ALICE, S.a2, { ip: '198.51.100.3', userAgent: 'Safari/18' });
  await w.append(sessionStream(S.a2), [
    { type: 'RefreshTokenReuseDetected', data: { session_id: S.a2, user_id: ALICE } },
    { type: 'SessionRevoked', data: { session_id: S.a2, user_id: ALICE, reason: 'reuse_detected' } },
  ], { ip: '203.0.113.9', userAgent: 'curl/8' });
  await w.startSession(ALICE, S.a3, alice, 1);
  await w.revoke(ALICE, S.a3, 'logout', alice);
  await w.user(ALICE, [{ type: 'PasswordChanged', data: { user_id: ALICE, password_hash: '$argon2id$new', kept_session_id: S.a1 } }], alice);
  await w.user(ALICE, [{ type: 'RoleGranted', data: { user_id: ALICE, role: 'admin' } }], alice);
  await w.user(ALICE, [{ type: 'RoleGranted', data: { user_id: ALICE, role: 'auditor' } }], alice);
  await w.user(ALICE, [{ type: 'RoleRevoked', data: { user_id: ALICE, role: 'user' } }], alice);
  await w.user(ALICE, [{ type: 'UserDisabled', data: { user_id: ALICE } }]);
  await w.user(ALICE, [{ type: 'UserEnabled', data: { user_id: ALICE } }]);
  await w.loginFailed(ALICE, { ip: '203.0.113.50', userAgent: 'Bot/1' });
  await w.loginFailed(null, { ip: '203.0.113.51', userAgent: 'Bot/1' });
  await w.startSession(CAROL, S.c1, { ip: '198.51.100.77', userAgent: 'Edge/1' });
  await w.user(CAROL, [{ type: 'UserDisabled', data: { user_id: CAROL } }]);
  await w.revoke(CAROL, S.c1, 'user_disabled');

  await w.user(BOB, [{ type: 'ProfileUpdated', data: { user_id: BOB, first_name: 'Bobby', last_name: 'Builder' } }], bob);
  await w.startSession(BOB, S.b1, bob);
  await w.rotate(BOB, S.b1, { ip: '192.0.2.23', userAgent: 'BobAgent/1.1' });
  await w.user(BOB, [{ type: 'UserErased', data: { user_id: BOB } }], bob);
  await w.revoke(BOB, S.b1, 'user_erased', bob);
  // A login decided just before the erasure, appended just after it (its key still existed).
  await w.startSession(BOB, S.b2, bob);
  await w.revoke(BOB, S.b2, 'user_erased', bob);
  await beforeErasure?.();
  await w.env.keys.destroy(BOB);
  return w.settings();
}

/// Snapshots

export const READ_MODEL_TABLES: Record<string, string> = {
  users: 'id',
  sessions: 'id',
  session_erasures: 'user_id',
  activity: 'position',
  webhooks: 'id',
};

type Plain = string | number | boolean | null | Plain[] | { [key: string]: Plain };

function plain(value: unknown): Plain {
  if (value === null || value === undefined) return null;
  if (value instanceof Date) return value.toISOString();
  if (typeof value === 'bigint') return value.toString();
  if (Array.isArray(value)) return value.map(plain);
  if (typeof value === 'object') return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, plain(v)]));
  if (typeof value === 'string' || typeof value === 'number' || typeof value === 'boolean') return value;
  return String(value);
}

export async function snapshotTable(db: SqlExecutor, table: string, key = READ_MODEL_TABLES[table] ?? 'id'): Promise<Plain[]> {
  const { rows } = await db.query(`select * from authstream.${table} order by ${key}`);
  return rows.map(plain);
}

export async function snapshot(db: SqlExecutor): Promise<Record<string, Plain[]>> {
  const out: Record<string, Plain[]> = {};
  for (const table of Object.keys(READ_MODEL_TABLES)) out[table] = await snapshotTable(db, table);
  return out;
}

/** Personal strings of `needles` found anywhere in the read-model tables. */
export async function personalDataLeft(db: SqlExecutor, needles: readonly string[]): Promise<string[]> {
  const text = JSON.stringify(await snapshot(db)).toLowerCase();
  return needles.filter((n) => text.includes(n.toLowerCase()));
}

export async function checkpoints(db: SqlExecutor): Promise<Record<string, string>> {
  const { rows } = await db.query<{ name: string; position: bigint }>(
    `select name, position from authstream.projection_checkpoints order by name`);
  return Object.fromEntries(rows.map((r) => [r.name, String(r.position)]));
}

/** A projection that records each applied position with a plain insert: a double apply fails loudly. */
export function ledgerProjection(name = 'ledger', options: { writesOnly?: boolean } = {}): Projection & { failNext: number } {
  const p = {
    name,
    version: 1,
    ...(options.writesOnly ? { writesOnly: true } : {}),
    tables: [name],
    failNext: 0,
    async setup(tx: SqlExecutor, table: (base: string) => string): Promise<void> {
      await tx.query(`create table if not exists ${table(name)} (position bigint primary key, type text not null)`);
    },
    async apply(tx: SqlExecutor, events: Decoded[], table: (base: string) => string): Promise<void> {
      await tx.query(
        `insert into ${table(name)} (position, type) select * from unnest($1::bigint[], $2::text[])`,
        [events.map((e) => e.position.toString()), events.map((e) => e.type)]);
      if (p.failNext > 0) {
        p.failNext -= 1;
        throw new Error('injected failure after writing');
      }
    },
  };
  return p;
}

export const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/**
 * The rows the projections should hold: every event, decoded now, applied in one batch
 * to fresh shadow tables (then dropped). Same keys as snapshot().
 */
export async function oracleSnapshot(env: Env): Promise<Record<string, Plain[]>> {
  const events = await env.codec.decodeAll(await readAllSettled(env.store, 1_000_000));
  const projections = allProjections();
  const drop = async (): Promise<void> => {
    for (const p of projections) for (const table of p.tables) await env.sql.query(`drop table if exists ${shadowTable(table)}`);
  };
  await drop();
  await env.sql.transaction(async (tx) => {
    for (const p of projections) {
      await p.setup(tx, shadowTable);
      await p.apply(tx, events, shadowTable);
    }
  });
  const out: Record<string, Plain[]> = {};
  for (const [table, key] of Object.entries(READ_MODEL_TABLES)) out[table] = await snapshotTable(env.sql, `${table}__rebuild`, key);
  await drop();
  return out;
}

/** Positions in the ledger table, in order. */
export async function ledger(db: SqlExecutor, name = 'ledger'): Promise<string[]> {
  const { rows } = await db.query<{ position: bigint }>(`select position from authstream.${name} order by position`);
  return rows.map((r) => String(r.position));
}

export async function allPositions(env: Env): Promise<string[]> {
  return (await readAllSettled(env.store, 1_000_000)).map((e) => String(e.position));
}

export async function until(what: () => boolean | Promise<boolean>, timeoutMs = 10_000): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (await what()) return true;
    await sleep(20);
  }
  return false;
}
