/**
 * Command tests run in one of two environments with the same shape (CommandTestEnv):
 * - openMemoryEnv (memoryCommands.ts): no database; the in-memory event store, an in-memory
 *   key store, the real codec, hasher and secrets. For what a command decides and writes.
 * - openCommandEnv (here): the real wiring on a fresh database (real PostgreSQL when it
 *   answers, see db.ts): createRuntime from src/composition/runtime.ts and `runtime.deps`
 *   (PostgresEventStore, PgKeyStore, sessions read model). For what also involves read
 *   models, key storage or the runtime's caches.
 * The event contexts use a fixed clock that tests advance by hand.
 */
import { isMfaRequired } from '../../src/commands/mfa/signIn.js';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomBytes, randomUUID } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import type { Test } from 'tap';
import type { CommandDeps } from '../../src/commands/handle.js';
import { issueTokens } from '../../src/commands/issueTokens.js';
import { registerUser, type RegisterUserInput } from '../../src/commands/registerUser.js';
import type { IssuedTokens } from '../../src/commands/sessions.js';
import { loadConfig, type Config } from '../../src/config.js';
import type { IdentifierKind } from '../../src/domain/events.js';
import type { RecordedEvent } from '../../src/ports/eventStore.js';
import type { Decoded, EventContext } from '../../src/ports/events.js';
import { Argon2Hasher } from '../../src/infra/passwordHasher.js';
import type { ImportedHash, PasswordHasher } from '../../src/ports/passwordHasher.js';
import type { Sql } from '../../src/ports/sql.js';
import { createRuntime, type Runtime } from '../../src/composition/runtime.js';
import { createTestDatabase } from './db.js';

/** A clock that stands still until told to move. */
export class TestClock {
  #now: number;
  constructor(start: Date = new Date()) {
    this.#now = Math.floor(start.getTime() / 1000) * 1000;
  }
  now(): Date {
    return new Date(this.#now);
  }
  advance(ms: number): Date {
    this.#now += ms;
    return this.now();
  }
}

/** Wraps a hasher and counts its calls (and what verify was asked about). */
export class CountingHasher implements PasswordHasher {
  readonly inner: PasswordHasher;
  hashes = 0;
  verifies: Array<{ phc: string | null }> = [];
  constructor(inner: PasswordHasher = new Argon2Hasher()) {
    this.inner = inner;
  }
  hash(password: string): Promise<string> {
    this.hashes += 1;
    return this.inner.hash(password);
  }
  verify(phc: string | null, password: string): Promise<boolean> {
    this.verifies.push({ phc });
    return this.inner.verify(phc, password);
  }
  needsUpgrade(stored: string): boolean {
    return this.inner.needsUpgrade(stored);
  }
  classifyImported(encoded: string | null): ImportedHash {
    return this.inner.classifyImported(encoded);
  }
  reset(): void {
    this.hashes = 0;
    this.verifies = [];
  }
}

/** What every command test needs, on PostgreSQL (openCommandEnv) or in memory (openMemoryEnv). */
export interface CommandTestEnv {
  deps: CommandDeps;
  config: Config;
  clock: TestClock;
  /** An event context at the clock's time; anonymous unless `actorId` is given. */
  ctx(over?: Partial<EventContext>): EventContext;
  /** deps with some ports replaced. */
  withDeps(over: Partial<CommandDeps>): CommandDeps;
  /** A stream, decoded (personal data decrypted while the key exists). */
  stream(streamId: string): Promise<Decoded[]>;
  /** Every stored event in global order, as stored. */
  allRaw(): Promise<RecordedEvent[]>;
  /** How many events are stored. */
  storedCount(): Promise<number>;
  /** Every stored event in global order, decoded. */
  allDecoded(): Promise<Decoded[]>;
  /** Waits until what commands read back (the session directory) has everything committed so far. */
  caughtUp(): Promise<void>;
  /** Whether this instance already rejects the session's access tokens (the command listener was told). */
  isRevoked(sessionId: string): boolean;
}

/** The real wiring on a fresh PostgreSQL database. */
export interface CommandEnv extends CommandTestEnv {
  runtime: Runtime;
  sql: Sql;
  /** Errors the runtime logged (projection failures…): a healthy test leaves none. */
  errors: Array<{ msg: string; obj: Record<string, unknown> }>;
}

/** Event contexts at the clock's time, anonymous unless told otherwise. */
export const contextAt = (clock: TestClock) => (over: Partial<EventContext> = {}): EventContext => ({
  now: clock.now(), correlationId: randomUUID(), causationId: null, actorId: null, requestId: randomUUID(),
  ip: null, userAgent: null, ...over,
});

export interface CommandEnvOptions {
  env?: Record<string, string>;
  hasher?: PasswordHasher;
  /** Connections of the test database's pool (default 20: the concurrency tests need them). */
  poolSize?: number;
}

export async function openCommandEnv(t: Test, options: CommandEnvOptions = {}): Promise<CommandEnv> {
  // One teardown, in a known order: the runtime before its database.
  const dbTeardowns: Array<() => unknown> = [];
  const db = await createTestDatabase({
    teardown: (fn) => dbTeardowns.push(fn),
    comment: (...args) => t.comment(...args),
  }, { max: options.poolSize ?? 20 });
  const dataDir = mkdtempSync(join(tmpdir(), 'authstream-cmd-'));
  const errors: CommandEnv['errors'] = [];
  let runtime: Runtime | undefined;
  t.teardown(async () => {
    await runtime?.close();
    for (const fn of dbTeardowns) await fn();
    rmSync(dataDir, { recursive: true, force: true });
  });

  const config = loadConfig({
    DATA_DIR: dataDir,
    MASTER_KEY: randomBytes(32).toString('base64'),
    LOG_LEVEL: 'silent',
    ...options.env,
  });
  runtime = await createRuntime(config, {
    sql: db.sql,
    ...(options.hasher ? { hasher: options.hasher } : {}),
    log: {
      error: (obj, msg) => errors.push({ msg, obj }),
      warn: (obj, msg) => errors.push({ msg, obj }),
    },
  });
  const rt = runtime;
  const clock = new TestClock();

  /** Position of the newest committed event (read from the table, not through readAll). */
  const committedHead = async (): Promise<bigint> => {
    const { rows } = await db.sql.query<{ p: string }>(`select coalesce(max(position), 0)::text as p from eventstore.events`);
    return BigInt(rows[0]?.p ?? '0');
  };

  const readAllOnce = async (): Promise<RecordedEvent[]> => {
    const out: RecordedEvent[] = [];
    let after: bigint | undefined;
    for (;;) {
      const page = await rt.store.readAll(after === undefined ? { maxCount: 1000 } : { after, maxCount: 1000 });
      out.push(...page);
      const last = page.at(-1);
      if (!last || page.length < 1000) return out;
      after = last.position;
    }
  };

  const allRaw = async (): Promise<RecordedEvent[]> => {
    const target = await committedHead();
    const deadline = Date.now() + 15_000;
    for (;;) {
      const events = await readAllOnce();
      if (target === 0n || (events.at(-1)?.position ?? 0n) >= target) return events;
      if (Date.now() > deadline) throw new Error(`readAll did not reach position ${target}`);
      await sleep(10);
    }
  };

  return {
    runtime: rt,
    deps: rt.deps,
    config,
    sql: db.sql,
    clock,
    errors,
    ctx: contextAt(clock),
    withDeps: (over) => ({ ...rt.deps, ...over }),
    stream: async (streamId) => rt.codec.decodeAll(await rt.store.readStream(streamId)),
    allRaw,
    storedCount: async () => {
      const { rows } = await db.sql.query<{ n: number }>(`select count(*)::int as n from eventstore.events`);
      return rows[0]?.n ?? -1;
    },
    allDecoded: async () => rt.codec.decodeAll(await allRaw()),
    isRevoked: (sessionId) => rt.revocations.isRevoked(sessionId),
    caughtUp: async () => {
      const head = await committedHead();
      if (!(await rt.projections.waitFor(head, 15_000))) throw new Error(`read models did not reach ${head}`);
    },
  };
}

/**
 * env.deps with a store that records what commands ask of it: `append <stream> at
 * <expected>` (with any `unchanged` streams), `readStream <stream>`, `readStreams <stream>…`
 * (a stream read with `latest` shows it as `<stream>(latest N)`, with `maxCount` as `<stream>(max N)`).
 */
export function countingDeps(env: CommandTestEnv, over: Partial<CommandDeps> = {}): { deps: CommandDeps; calls: string[] } {
  const calls: string[] = [];
  const store = env.deps.store;
  const deps = env.withDeps({
    store: {
      kind: store.kind,
      appendToStream: (...args) => {
        const unchanged = (args[2].unchanged ?? []).map((u) => ` (${u.streamId} at ${u.revision})`).join('');
        calls.push(`append ${args[0]} at ${String(args[2].expectedRevision)}${unchanged}`);
        return store.appendToStream(...args);
      },
      appendToStreams: (appends) => {
        calls.push(`appendToStreams ${appends.map((a) => `${a.streamId} at ${String(a.expectedRevision)}`).join(' ')}`);
        return store.appendToStreams(appends);
      },
      readStream: (...args) => {
        calls.push(`readStream ${args[0]}`);
        return store.readStream(...args);
      },
      readStreams: (...args) => {
        calls.push(`readStreams ${args[0].map((q) => q.streamId + (q.latest === undefined ? '' : `(latest ${q.latest})`)
          + (q.maxCount === undefined ? '' : `(max ${q.maxCount})`)).join(' ')}`);
        return store.readStreams(...args);
      },
      readAll: (...args) => store.readAll(...args),
      subscribeToAll: (...args) => store.subscribeToAll(...args),
      headPosition: () => store.headPosition(),
      lastPosition: () => store.lastPosition(),
      ping: () => store.ping(),
      close: async () => {},
    },
    ...over,
  });
  return { deps, calls };
}

/// Shortcuts

export const email = (kind: string): string => `${kind}.${randomBytes(4).toString('hex')}@example.com`;

export async function register(env: CommandTestEnv, input: RegisterUserInput, over: Partial<EventContext> = {}): Promise<IssuedTokens> {
  return registerUser(env.deps, input, env.ctx(over));
}

export async function login(
  env: CommandTestEnv,
  identifier: { kind: IdentifierKind; value: string },
  password: string,
  over: Partial<EventContext> = {},
  deps: CommandDeps = env.deps,
): Promise<IssuedTokens> {
  const r = await issueTokens(deps, { identifier, password }, env.ctx(over));
  if (isMfaRequired(r)) throw new Error('login: a second factor is due (use issueTokens for MFA users)');
  return r;
}

/** Types of a decoded stream's events, in order. */
export const typesOf = (events: readonly { type: string }[]): string[] => events.map((e) => e.type);

/** An event's data as a plain record (decoded events are a union over every event type). */
export const dataOf = (e: { data: object } | undefined): Record<string, unknown> => ({ ...(e?.data ?? {}) });
