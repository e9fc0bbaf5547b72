/**
 * The composition root: builds the stores, the command dependencies, the projections and
 * the in-memory caches from a Config, and takes them down again. The HTTP app and the CLI
 * both run on a Runtime.
 */
import { randomUUID } from 'node:crypto';
import type { FastifyPluginAsync } from 'fastify';
import type { CommandDeps } from '../commands/handle.js';
import { StateCache } from '../commands/stateCache.js';
import { ConfigError, recoveryPolicy, type Config } from '../config.js';
import type { SettingsValues } from '../domain/events.js';
import { SETTINGS_STREAM, mfaStream, userStream } from '../domain/events.js';
import { mfaDeps } from './mfa.js';
import { masterKeyWarning, openMasterKey, openSql } from './foundations.js';
import { REVOCATION_HORIZON_MS } from '../domain/settings/settings.js';
import type { EventStore } from '../ports/eventStore.js';
import { PostgresEventStore } from '../eventstore/postgres/store.js';
import { EventCodec } from '../infra/eventCodec.js';
import type { Decoded } from '../ports/events.js';
import { PgKeyStore } from '../infra/keyStore.js';
import { LiveSettings } from '../infra/liveSettings.js';
import { Argon2Hasher } from '../infra/passwordHasher.js';
import { LegacyAwareHasher } from '../infra/passwords/legacy.js';
import type { PasswordHasher } from '../ports/passwordHasher.js';
import { createSecrets } from '../infra/secrets.js';
import type { Secrets } from '../ports/secrets.js';
import { SigningKeys } from '../infra/signingKeys/signingKeys.js';
import { PgSql } from '../infra/sql/pg.js';
import type { Sql } from '../ports/sql.js';
import { isCommonPassword } from '../infra/commonPasswords.js';
import { readCheckpoint } from '../projections/engine/checkpoints.js';
import { allProjections } from '../projections/index.js';
import { activity, type ActivityView } from '../projections/activity/queries.js';
import { getSession, listSessions, revokedSessionsSince, sessionIdsOfUser, type SessionView } from '../projections/sessions/queries.js';
import { getUser, searchUsers, type SearchUsersOptions, type UserPage, type UserView } from '../projections/users/queries.js';
import { RevocationSet } from '../tokens/revocations.js';
import { UserCutoffs } from '../tokens/userCutoffs.js';
import { warmCutoffs } from '../tokens/warmCutoffs.js';
import { UserCache } from '../projections/users/cache.js';
import { ProjectionRunner, type RunnerLog } from '../projections/engine/runner.js';
import type { ReactorRunner } from '../reactors/engine/reactorRunner.js';
import type { WebhookManager } from '../reactors/webhooks/manager.js';
import { startReactors, type Transports } from './reactors.js';

export interface ReadModels {
  getUser(id: string): Promise<UserView | null>;
  listSessions(userId: string, now: Date): Promise<SessionView[]>;
  getSession(id: string): Promise<SessionView | null>;
  activity(userId: string, limit: number): Promise<ActivityView[]>;
  searchUsers(options: SearchUsersOptions): Promise<UserPage>;
}

export interface Runtime {
  config: Config;
  /** Read models, data keys and signing keys (and the event store in postgres mode). */
  sql: Sql;
  store: EventStore;
  keys: PgKeyStore;
  codec: EventCodec;
  hasher: PasswordHasher;
  secrets: Secrets;
  signingKeys: SigningKeys;
  settings: LiveSettings;
  revocations: RevocationSet;
  cutoffs: UserCutoffs;
  projections: ProjectionRunner;
  /** Side effects from the log: reset and verification messages (composition/reactors.ts). */
  reactors: ReactorRunner;
  /** The webhook endpoints' deliveries. */
  webhooks: WebhookManager;
  /** What the operator is told at start-up (e.g. that no mail is delivered). */
  notices: string[];
  deps: CommandDeps;
  readModels: ReadModels;
  /** Waits (bounded) until the read models include `position`; null: nothing to wait for. */
  readYourWrites(position: bigint | null): Promise<void>;
  /** More route plugins, registered by later modules (OAuth, admin). */
  extraRoutes?: FastifyPluginAsync<{ runtime: Runtime }>[];
  close(): Promise<void>;
}

export interface RuntimeOptions {
  log?: RunnerLog & { warn?(obj: Record<string, unknown>, msg: string): void; info?(obj: Record<string, unknown>, msg: string): void };
  /** Use this SQL client instead of opening one from the config (tests). */
  sql?: Sql;
  /** Use this event store instead of opening one from the config (tests). */
  store?: EventStore;
  hasher?: PasswordHasher;
  /** Mail and SMS transports instead of those the configuration names (tests). */
  transports?: Transports;
  /** false: run no reactors here (tests about other things; the CLI). Default true. */
  reactors?: boolean;
  /** false: run no projections here (a bulk CLI command; the service keeps the read models). */
  projections?: boolean;
}

export { loadMasterKey, openSql } from './foundations.js';

export async function openStore(config: Config, sql: Sql): Promise<EventStore> {
  if (config.eventStore === 'eventstoredb') {
    const { EventStoreDbEventStore } = await import('../eventstore/eventstoredb/store.js');
    try {
      return await EventStoreDbEventStore.connect(config.eventStoreUrl ?? '');
    } catch (e) {
      // The adapter's message already names EVENTSTORE_URL (with any password masked).
      throw new ConfigError('EVENTSTORE_URL', e instanceof Error ? e.message.replace(/^EVENTSTORE_URL:?\s*/, '') : String(e));
    }
  }
  return PostgresEventStore.open(sql);
}

export async function createRuntime(config: Config, options: RuntimeOptions = {}): Promise<Runtime> {
  const log = options.log ?? { error: (obj, msg) => console.error(msg, obj) };
  const masterKey = openMasterKey(config);
  const master = masterKey.key;
  const sql = options.sql ?? (await openSql(config));
  const ownsSql = options.sql === undefined;
  const closers: Array<() => Promise<unknown>> = [];
  try {
    const store = options.store ?? (await openStore(config, sql));
    if (options.store === undefined) closers.push(() => store.close());
    const keys = await PgKeyStore.open(sql, master);
    const codec = new EventCodec(keys);
    const hasher = new LegacyAwareHasher(options.hasher ?? new Argon2Hasher());
    const secrets = createSecrets(master);
    const signingKeys = await SigningKeys.open(sql, master, config.jwtPrivateKey);
    const unfollowKeys = await signingKeys.follow();
    closers.push(unfollowKeys);

    const defaults: SettingsValues = {
      access_token_ttl_seconds: config.accessTokenTtlSeconds,
      refresh_token_ttl_seconds: config.refreshTokenTtlSeconds,
      sliding_access_tokens: config.slidingAccessTokens,
      refresh_reuse_grace_seconds: config.refreshReuseGraceSeconds,
      mfa_required_roles: config.mfa.requiredRoles,
    };
    const settings = new LiveSettings(defaults);
    const revocations = new RevocationSet();
    const cutoffs = new UserCutoffs();
    // Projections get connections of their own, so their transactions never queue behind
    // request traffic in the main pool (live lag), nor the other way round; in pipeline
    // mode, so that a live batch is one round trip and its COMMIT (the runner's fast path).
    const projectionSql = sql instanceof PgSql && sql.pool.options.connectionString
      ? new PgSql({
        connectionString: sql.pool.options.connectionString, max: 4, applicationName: 'authstream-projections', pipeline: true,
      })
      : sql;
    if (projectionSql !== sql) closers.push(() => projectionSql.close());
    const projections = new ProjectionRunner({ sql: projectionSql, store, codec, encoder: codec, projections: allProjections(), log });

    const readYourWrites = async (position: bigint | null): Promise<void> => {
      if (position === null) return;
      const reached = await projections.waitFor(position, config.readYourWritesTimeoutMs);
      if (!reached) log.warn?.({ position: position.toString() }, 'read models did not catch up in time');
    };

    const states = new StateCache();
    // An erased user's cached data key and decrypted state go from memory (this instance's
    // erasures at once, other instances' when their events arrive).
    const forgetUser = (userId: string): void => {
      keys.forget(userId);
      states.delete(userStream(userId));
      states.delete(mfaStream(userId));
    };
    const deps: CommandDeps = {
      store, codec, keys, hasher, secrets,
      newId: randomUUID,
      settings: () => settings.current(),
      throttle: { maxFailures: config.loginMaxFailures, windowSeconds: config.loginFailureWindowSeconds },
      recovery: recoveryPolicy(config),
      mfa: mfaDeps(config, master),
      isCommonPassword,
      ...(config.defaultPhoneRegion ? { phoneRegion: config.defaultPhoneRegion } : {}),
      sessions: {
        activeSessionIds: async (userId) => {
          await readYourWrites(await store.lastPosition());
          return sessionIdsOfUser(sql, userId, new Date());
        },
      },
      states,
      listener: {
        sessionsRevoked: (ids) => revocations.markRevoked(ids),
        userErased: forgetUser,
        appended: (events) => {
          cutoffs.apply(events);
          nudgeReactors(events);
        },
      },
    };
    let nudgeReactors = (_events: readonly { type: string }[]): void => {};

    if (options.projections !== false) await projections.start();
    closers.unshift(() => projections.stop());
    const reactors = await startReactors(config, {
      deps, sql, store, codec, log, run: options.reactors !== false, ...(options.transports ? { transports: options.transports } : {}),
    });
    closers.unshift(() => reactors.close());
    nudgeReactors = (events) => {
      if (events.some((e) => reactors.wakesOn.has(e.type))) reactors.runner.nudge();
      if (events.some((e) => e.type.startsWith('Webhook'))) reactors.webhooks.nudge();
    };

    // In-memory caches: each starts from a known position and is fed from there on.
    // Each has a `reload` (its "rebuild" from the admin API): drop, load again, follow on.
    const loadRevocations = async (): Promise<bigint> => {
      const from = (await readCheckpoint(sql, 'sessions'))?.position ?? 0n;
      revocations.clear();
      revocations.load(await revokedSessionsSince(sql, new Date(Date.now() - REVOCATION_HORIZON_MS)));
      return from;
    };
    projections.addConsumer({ name: revocations.name, apply: (e) => revocations.apply(e), reload: loadRevocations }, await loadRevocations());
    const loadCutoffs = async (): Promise<bigint> => {
      cutoffs.clear();
      return warmCutoffs(store, codec, cutoffs);
    };
    projections.addConsumer({ name: cutoffs.name, apply: (e) => cutoffs.apply(e), reload: loadCutoffs }, await loadCutoffs());

    const loadSettings = async (): Promise<bigint> => {
      const head = await store.headPosition();
      settings.apply(await codec.decodeAll(await store.readStream(SETTINGS_STREAM)));
      return head;
    };
    projections.addConsumer({ name: settings.name, apply: (e) => settings.apply(e), reload: loadSettings }, await loadSettings());
    projections.addConsumer({
      name: 'erasures',
      apply: (events: Decoded[]) => {
        for (const e of events) if (e.type === 'UserErased') forgetUser(e.data.user_id);
      },
      reload: () => store.headPosition(), // holds nothing: an erasure forgets at once
    }, await store.headPosition());

    const usersCheckpoint = (await readCheckpoint(sql, 'users'))?.position ?? 0n;
    const userCache = new UserCache({ appliedPosition: () => projections.positions().get('users') ?? 0n, from: usersCheckpoint });
    projections.addConsumer({
      name: userCache.name,
      apply: (e) => userCache.apply(e),
      reload: async () => {
        const from = (await readCheckpoint(sql, 'users'))?.position ?? 0n;
        userCache.clear(from);
        return from;
      },
    }, usersCheckpoint);

    const readModels: ReadModels = {
      getUser: (id) => userCache.get(id, (userId) => getUser(sql, userId)),
      listSessions: (userId, now) => listSessions(sql, userId, now),
      getSession: (id) => getSession(sql, id),
      activity: (userId, limit) => activity(sql, userId, limit),
      searchUsers: (o) => searchUsers(sql, o),
    };

    return {
      config, sql, store, keys, codec, hasher, secrets, signingKeys, settings, revocations, cutoffs, projections, deps, readModels,
      reactors: reactors.runner,
      webhooks: reactors.webhooks,
      notices: [...[masterKeyWarning(config, masterKey)].filter((n): n is string => n !== null), ...reactors.notices],
      readYourWrites,
      extraRoutes: [],
      async close() {
        for (const close of closers) await close().catch(() => {});
        if (ownsSql) await sql.close();
      },
    };
  } catch (e) {
    for (const close of closers) await close().catch(() => {});
    if (ownsSql) await sql.close();
    throw e;
  }
}
