/**
 * Per-client-IP limits. Every endpoint that checks a password (login, the OAuth password
 * grant, a password change, an erasure) draws on one budget per IP:
 * LOGIN_RATE_PER_IP_PER_MINUTE, counted together. Registration, which costs a hash too, has
 * its own: REGISTER_RATE_PER_IP_PER_MINUTE. With REDIS_URL the counters live in Redis
 * (ioredis) and every instance shares them; without it each instance counts on its own.
 * The per-account throttle (domain/login/throttle.ts) is separate and always shared,
 * through the event log.
 *
 * @fastify/rate-limit keeps a store per route (its `groupId` only names a counter within a
 * route's store), so the budgets shared by several routes use the store below: one for
 * every route, keyed by group and client IP, a fixed window per key.
 */
import type { RateLimitOptions, RateLimitPluginOptions } from '@fastify/rate-limit';
import { Redis } from 'ioredis';
import type { Config } from '../../config.js';
import { BoundedMap } from '../../lib/boundedMap.js';

type Counted = (error: Error | null, result: { current: number; ttl: number } | null) => void;

/** The store interface @fastify/rate-limit calls (`store` option): one instance for every route. */
interface SharedStore {
  incr(key: string, done: Counted, timeWindow: number, max: number): void;
  child(): SharedStore;
}

/** INCR, and on the first hit of a window its expiry; answers the count and the time left. */
const WINDOW_LUA = `
  local current = redis.call('INCR', KEYS[1])
  if current == 1 then redis.call('PEXPIRE', KEYS[1], ARGV[1]) end
  local ttl = redis.call('PTTL', KEYS[1])
  if ttl < 0 then redis.call('PEXPIRE', KEYS[1], ARGV[1]); ttl = tonumber(ARGV[1]) end
  return { current, ttl }
`;

type RedisWithWindow = Redis & { authstreamWindow(key: string, windowMs: number, done: (e: Error | null, r: [number, number]) => void): void };

function redisStore(redis: Redis, prefix: string): SharedStore {
  const client = redis as RedisWithWindow;
  redis.defineCommand('authstreamWindow', { numberOfKeys: 1, lua: WINDOW_LUA });
  const store: SharedStore = {
    incr: (key, done, timeWindow) => client.authstreamWindow(`${prefix}${key}`, timeWindow, (error, result) =>
      (error ? done(error, null) : done(null, { current: Number(result[0]), ttl: Number(result[1]) }))),
    child: () => store,
  };
  return store;
}

function memoryStore(): SharedStore {
  const windows = new BoundedMap<string, { count: number; endsAt: number }>(50_000);
  const store: SharedStore = {
    incr: (key, done, timeWindow) => {
      const now = Date.now();
      let w = windows.get(key);
      if (!w || w.endsAt <= now) {
        w = { count: 0, endsAt: now + timeWindow };
        windows.set(key, w);
      }
      w.count += 1;
      done(null, { current: w.count, ttl: w.endsAt - now });
    },
    child: () => store,
  };
  return store;
}

/** The plugin's options: the shared store (in Redis when configured), and how to close it. */
export function rateLimitStore(config: Pick<Config, 'redisUrl' | 'redisKeyPrefix'>): { options: RateLimitPluginOptions; close(): Promise<void> } {
  const redis = config.redisUrl
    ? new Redis(config.redisUrl, {
      // Fail fast: a limit check must not hold a request for long when Redis is away.
      connectTimeout: 1000, maxRetriesPerRequest: 1, enableOfflineQueue: false,
    })
    : undefined;
  redis?.on('error', () => {}); // it reconnects by itself; meanwhile skipOnError lets requests through
  const shared = redis ? redisStore(redis, `${config.redisKeyPrefix}ratelimit:`) : memoryStore();
  return {
    // The plugin constructs its `store`: this class hands it the one shared store.
    // Redis down: requests go through (the per-account throttle still holds) rather than all failing.
    options: { global: false, skipOnError: redis !== undefined, store: class { constructor() { return shared; } } as never },
    close: async () => { redis?.disconnect(); },
  };
}

/** Route options for registration: its own per-IP budget. */
export function registrationsLimit(
  config: Pick<Config, 'registerRatePerIpPerMinute'>, extra: Pick<RateLimitOptions, 'errorResponseBuilder'> = {},
): RateLimitOptions {
  return { max: config.registerRatePerIpPerMinute, timeWindow: 60_000, groupId: 'registrations', ...extra };
}

/** Route options for an endpoint that checks a password: the shared per-IP credentials budget. */
export function credentialsLimit(
  config: Pick<Config, 'loginRatePerIpPerMinute'>,
  extra: Pick<RateLimitOptions, 'errorResponseBuilder' | 'allowList' | 'hook'> = {},
): RateLimitOptions {
  return { max: config.loginRatePerIpPerMinute, timeWindow: 60_000, groupId: 'credentials', ...extra };
}

/** Route options for the recovery endpoints (forgot, reset, verify): their own per-IP budget. */
export function recoveryLimit(
  config: Pick<Config, 'recovery'>, extra: Pick<RateLimitOptions, 'errorResponseBuilder'> = {},
): RateLimitOptions {
  return { max: config.recovery.ratePerIpPerMinute, timeWindow: 60_000, groupId: 'recovery', ...extra };
}
