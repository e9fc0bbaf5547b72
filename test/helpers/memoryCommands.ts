/**
 * Command tests without a database: the in-memory event store (the same contract suite as
 * the PostgreSQL adapter), per-user keys in a Map, and the real codec, argon2id hasher,
 * keyed secrets, state cache, settings and throttle of a loaded configuration. The session directory
 * folds the session streams themselves, as the sessions read model would show them.
 */
import { randomBytes, randomUUID } from 'node:crypto';
import type { Test } from 'tap';
import type { CommandDeps } from '../../src/commands/handle.js';
import { StateCache } from '../../src/commands/stateCache.js';
import { loadConfig, recoveryPolicy } from '../../src/config.js';
import { SessionAggregate, isLive, type Session } from '../../src/domain/session/session.js';
import type { Recorded, SessionEvent } from '../../src/domain/events.js';
import { MemoryEventStore } from '../../src/eventstore/memory.js';
import { isCommonPassword } from '../../src/infra/commonPasswords.js';
import { EventCodec } from '../../src/infra/eventCodec.js';
import { Argon2Hasher } from '../../src/infra/passwordHasher.js';
import { createSecrets } from '../../src/infra/secrets.js';
import type { KeyStore } from '../../src/ports/keyStore.js';
import type { PasswordHasher } from '../../src/ports/passwordHasher.js';
import { TestClock, contextAt, type CommandTestEnv } from './commands.js';
import { mfaDeps } from '../../src/composition/mfa.js';

/** Data keys in memory; a destroyed key is gone for good, as in PgKeyStore. */
export class MemoryKeyStore implements KeyStore {
  readonly #keys = new Map<string, Buffer | null>();
  readonly #refs = new Map<string, string>();
  async create(userId: string): Promise<Buffer> {
    const existing = this.#keys.get(userId);
    if (existing) return existing;
    if (existing === null) throw new Error(`the key of ${userId} was destroyed`);
    const key = randomBytes(32);
    this.#keys.set(userId, key);
    return key;
  }
  async createMany(userIds: readonly string[]): Promise<void> {
    for (const id of userIds) if (this.#keys.get(id) !== null) await this.create(id);
  }
  async warm(): Promise<void> {}
  async get(userId: string): Promise<Buffer | null> {
    return this.#keys.get(userId) ?? null;
  }
  async destroy(userId: string): Promise<void> {
    this.#keys.set(userId, null);
    for (const [ref, user] of this.#refs) if (user === userId) this.#refs.delete(ref);
  }
  forget(): void {}
  async refOf(userId: string): Promise<string | null> {
    if (!this.#keys.get(userId)) return null;
    for (const [ref, user] of this.#refs) if (user === userId) return ref;
    const ref = randomUUID();
    this.#refs.set(ref, userId);
    return ref;
  }
  async userOfRef(ref: string): Promise<string | null> {
    return this.#refs.get(ref) ?? null;
  }
}

export interface MemoryEnv extends CommandTestEnv {
  store: MemoryEventStore;
  keys: MemoryKeyStore;
}

export interface MemoryEnvOptions {
  env?: Record<string, string>;
  hasher?: PasswordHasher;
}

export async function openMemoryEnv(t: Test, options: MemoryEnvOptions = {}): Promise<MemoryEnv> {
  const config = loadConfig({ MASTER_KEY: randomBytes(32).toString('base64'), LOG_LEVEL: 'silent', ...options.env });
  const clock = new TestClock();
  const store = new MemoryEventStore({ now: () => clock.now() });
  t.teardown(() => store.close());
  const keys = new MemoryKeyStore();
  const codec = new EventCodec(keys);
  const revoked = new Set<string>();

  const allRaw = async () => store.readAll({ maxCount: Number.MAX_SAFE_INTEGER });
  const activeSessionIds = async (userId: string): Promise<string[]> => {
    const started = await store.readAll({ maxCount: Number.MAX_SAFE_INTEGER, types: ['SessionStarted'] });
    const ids: string[] = [];
    for (const s of started) {
      if (s.data['user_id'] !== userId) continue;
      const events = await store.readStream(s.streamId);
      const state = events.reduce<Session>(
        (st, e) => SessionAggregate.evolve(st, e as unknown as Recorded<SessionEvent>), SessionAggregate.initial());
      if (isLive(state, new Date())) ids.push(state.id);
    }
    return ids;
  };
  const deps: CommandDeps = {
    store, codec, keys,
    hasher: options.hasher ?? new Argon2Hasher(),
    secrets: createSecrets(randomBytes(32)),
    newId: randomUUID,
    settings: () => ({
      access_token_ttl_seconds: config.accessTokenTtlSeconds,
      refresh_token_ttl_seconds: config.refreshTokenTtlSeconds,
      sliding_access_tokens: config.slidingAccessTokens,
      refresh_reuse_grace_seconds: config.refreshReuseGraceSeconds,
      mfa_required_roles: config.mfa.requiredRoles,
    }),
    throttle: { maxFailures: config.loginMaxFailures, windowSeconds: config.loginFailureWindowSeconds },
    recovery: recoveryPolicy(config),
    mfa: mfaDeps(config, randomBytes(32)),
    isCommonPassword,
    sessions: { activeSessionIds },
    states: new StateCache(),
    listener: {
      sessionsRevoked: (ids) => ids.forEach((id) => revoked.add(id)),
      userErased: () => {},
    },
  };
  return {
    deps, config, clock, store, keys,
    ctx: contextAt(clock),
    withDeps: (over) => ({ ...deps, ...over }),
    stream: async (streamId) => codec.decodeAll(await store.readStream(streamId)),
    allRaw,
    storedCount: async () => (await allRaw()).length,
    allDecoded: async () => codec.decodeAll(await allRaw()),
    caughtUp: async () => {},
    isRevoked: (sessionId) => revoked.has(sessionId),
  };
}
