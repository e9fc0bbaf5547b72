/**
 * Configuration from the environment (and an optional .env), validated once at start.
 * A bad value stops start-up with one line naming the setting (ConfigError).
 */
import { isIP } from 'node:net';
import { SETTINGS_BOUNDS } from './domain/settings/settings.js';
import type { RecoveryPolicy } from './domain/user/recovery.js';
import { bool, ConfigError, int, url, withFileSettings, type Env } from './configValues.js';
import { mfaConfig, type MfaConfig } from './mfaConfig.js';
import { phoneRegion, type CountryCode } from './policy/identifiers.js';

export { ConfigError } from './configValues.js';

export type TrustProxy = boolean | number | string[];

export interface Config {
  port: number;
  host: string;
  publicUrl: string;
  databaseUrl: string | undefined;
  /** Connections of the request pool (the projections keep 4 more of their own). */
  databasePoolSize: number;
  /** Redis for the per-IP counters shared by every instance (unset: per instance). */
  redisUrl: string | undefined;
  /** Prefix of every key this service writes to Redis. */
  redisKeyPrefix: string;
  dataDir: string;
  eventStore: 'postgres' | 'eventstoredb';
  eventStoreUrl: string | undefined;
  jwtAudience: string;
  jwtPrivateKey: string | undefined;
  masterKey: string | undefined;
  accessTokenTtlSeconds: number;
  refreshTokenTtlSeconds: number;
  slidingAccessTokens: boolean;
  refreshReuseGraceSeconds: number;
  loginMaxFailures: number;
  loginFailureWindowSeconds: number;
  /** Registrations a minute per client IP (each costs a hash). */
  registerRatePerIpPerMinute: number;
  loginRatePerIpPerMinute: number;
  trustProxy: TrustProxy;
  corsOrigins: string[] | '*' | false;
  bootstrapAdminEmail: string | undefined;
  bootstrapAdminPassword: string | undefined;
  logLevel: 'fatal' | 'error' | 'warn' | 'info' | 'debug' | 'trace' | 'silent';
  /** LOG_FORMAT: `pretty` lines for a person, `json` for a collector; `auto` is pretty on a terminal. */
  logFormat: 'auto' | 'pretty' | 'json';
  /** How long a command waits for projections before answering (read-your-writes). */
  readYourWritesTimeoutMs: number;
  /** Admin SSE tail: heartbeat comment interval, and events buffered per connection before `overflow`. */
  sseHeartbeatMs: number;
  sseBufferEvents: number;
  recovery: RecoveryConfig;
  webhooks: WebhooksConfig;
  mfa: MfaConfig;
  /** Serve the operator console at /console (CONSOLE_ENABLED, default true). */
  console: boolean;
  /** NODE_ENV=production: stricter about what must be configured. */
  production: boolean;
  /** DEFAULT_PHONE_REGION: phone numbers written without `+` are national numbers of this country. */
  defaultPhoneRegion: CountryCode | undefined;
}

/** Outbound webhooks: where they may go and how long they are retried. */
export interface WebhooksConfig {
  /** http:// endpoints, to loopback only (development, tests). */
  allowHttp: boolean;
  /** Link-local and cloud-metadata addresses (refused by default). */
  allowPrivate: boolean;
  /** Retries of a failing endpoint grow to this delay. */
  retryMaxSeconds: number;
  /** An endpoint failing this long is disabled. */
  disableAfterSeconds: number;
}

/** Password reset and verification: where messages go and how long their links last. */
export interface RecoveryConfig {
  productName: string;
  smtpUrl: string | undefined;
  mailFrom: string;
  smsWebhookUrl: string | undefined;
  smsWebhookToken: string | undefined;
  passwordResetUrl: string;
  emailVerifyUrl: string;
  passwordResetTtlSeconds: number;
  emailVerifyTtlSeconds: number;
  requireVerifiedIdentifier: boolean;
  /** Recovery requests a minute per client IP. */
  ratePerIpPerMinute: number;
  /** Reset requests per identifier within `requestWindowSeconds` (then 429). */
  maxRequestsPerIdentifier: number;
  requestWindowSeconds: number;
  /** Without SMTP or SMS outside production: messages are written to the log for a developer. */
  logMessages: boolean;
  /** How long a reactor's lease lasts unrenewed: a standby takes over within it when its holder dies. */
  reactorLeaseMs: number;
}

function trustProxy(env: Env): TrustProxy {
  const raw = env.TRUST_PROXY?.trim();
  if (!raw) return false;
  const lower = raw.toLowerCase();
  if (lower === 'true') return true;
  if (lower === 'false') return false;
  if (/^\d+$/.test(raw)) return Number(raw);
  const parts = raw.split(',').map((p) => p.trim()).filter(Boolean);
  for (const p of parts) {
    const [addr, bits] = p.split('/');
    if (!addr || isIP(addr) === 0 || (bits !== undefined && !/^\d{1,3}$/.test(bits))) {
      throw new ConfigError('TRUST_PROXY', `must be true, false, a hop count, or comma-separated IPs/CIDRs; "${p}" is none of these`);
    }
  }
  return parts;
}

function logFormat(env: Env): Config['logFormat'] {
  const raw = env.LOG_FORMAT?.trim().toLowerCase() || 'auto';
  if (raw !== 'auto' && raw !== 'pretty' && raw !== 'json') throw new ConfigError('LOG_FORMAT', 'must be auto, pretty or json');
  return raw;
}

function defaultPhoneRegion(env: Env): CountryCode | undefined {
  const raw = env.DEFAULT_PHONE_REGION?.trim();
  if (!raw) return undefined;
  const region = phoneRegion(raw);
  if (region === null) throw new ConfigError('DEFAULT_PHONE_REGION', `${raw} is not an ISO 3166 country code with a phone numbering plan (e.g. RU, FR, US)`);
  return region;
}

function cors(env: Env): Config['corsOrigins'] {
  const raw = env.CORS_ORIGINS?.trim();
  if (!raw) return false;
  if (raw === '*') return '*';
  const origins = raw.split(',').map((o) => o.trim()).filter(Boolean);
  for (const o of origins) {
    try {
      new URL(o);
    } catch {
      throw new ConfigError('CORS_ORIGINS', `"${o}" is not an origin like https://app.example.com`);
    }
  }
  return origins;
}

const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const;

export function loadConfig(given: Env = process.env): Config {
  const env = withFileSettings(given);
  const port = int(env, 'PORT', 3000, 0, 65535);
  const publicUrl = (url(env, 'PUBLIC_URL', ['http:', 'https:']) ?? `http://localhost:${port}`).replace(/\/+$/, '');
  const eventStore = (env.EVENT_STORE?.trim() || 'postgres').toLowerCase();
  if (eventStore !== 'postgres' && eventStore !== 'eventstoredb') {
    throw new ConfigError('EVENT_STORE', `must be postgres or eventstoredb, got "${env.EVENT_STORE}"`);
  }
  const eventStoreUrl = url(env, 'EVENTSTORE_URL', ['esdb:', 'esdb+discover:', 'kurrentdb:', 'kurrent:']);
  if (eventStore === 'eventstoredb' && !eventStoreUrl) {
    throw new ConfigError('EVENTSTORE_URL', 'is required when EVENT_STORE=eventstoredb (e.g. esdb://localhost:2113?tls=false)');
  }
  const logLevel = (env.LOG_LEVEL?.trim() || 'info') as Config['logLevel'];
  if (!LOG_LEVELS.includes(logLevel)) throw new ConfigError('LOG_LEVEL', `must be one of ${LOG_LEVELS.join(', ')}`);
  const bootstrapAdminEmail = env.BOOTSTRAP_ADMIN_EMAIL?.trim() || undefined;
  const bootstrapAdminPassword = env.BOOTSTRAP_ADMIN_PASSWORD || undefined;
  if ((bootstrapAdminEmail === undefined) !== (bootstrapAdminPassword === undefined)) {
    throw new ConfigError(bootstrapAdminEmail ? 'BOOTSTRAP_ADMIN_PASSWORD' : 'BOOTSTRAP_ADMIN_EMAIL',
      'BOOTSTRAP_ADMIN_EMAIL and BOOTSTRAP_ADMIN_PASSWORD go together');
  }
  const jwtPrivateKey = env.JWT_PRIVATE_KEY?.trim() ? env.JWT_PRIVATE_KEY.replace(/\\n/g, '\n') : undefined;
  if (jwtPrivateKey !== undefined && !jwtPrivateKey.includes('PRIVATE KEY')) {
    throw new ConfigError('JWT_PRIVATE_KEY', 'must be a PEM-encoded Ed25519 private key (-----BEGIN PRIVATE KEY-----)');
  }
  return {
    port,
    host: env.HOST?.trim() || '0.0.0.0',
    publicUrl,
    databaseUrl: url(env, 'DATABASE_URL', ['postgres:', 'postgresql:']),
    databasePoolSize: int(env, 'DATABASE_POOL_SIZE', 20, 1, 1000),
    redisUrl: url(env, 'REDIS_URL', ['redis:', 'rediss:']),
    redisKeyPrefix: env.REDIS_KEY_PREFIX?.trim() || 'authstream:',
    dataDir: env.DATA_DIR?.trim() || './data',
    eventStore,
    eventStoreUrl,
    jwtAudience: env.JWT_AUDIENCE?.trim() || 'authstream',
    jwtPrivateKey,
    masterKey: env.MASTER_KEY?.trim() || undefined,
    accessTokenTtlSeconds: int(env, 'ACCESS_TOKEN_TTL_SECONDS', 300, SETTINGS_BOUNDS.access_token_ttl_seconds.min, SETTINGS_BOUNDS.access_token_ttl_seconds.max),
    refreshTokenTtlSeconds: int(env, 'REFRESH_TOKEN_TTL_SECONDS', 2_592_000, SETTINGS_BOUNDS.refresh_token_ttl_seconds.min, SETTINGS_BOUNDS.refresh_token_ttl_seconds.max),
    slidingAccessTokens: bool(env, 'AUTH_SLIDING_ACCESS_TOKENS', false),
    refreshReuseGraceSeconds: int(env, 'REFRESH_REUSE_GRACE_SECONDS', 0, SETTINGS_BOUNDS.refresh_reuse_grace_seconds.min, SETTINGS_BOUNDS.refresh_reuse_grace_seconds.max),
    loginMaxFailures: int(env, 'LOGIN_MAX_FAILURES', 5, 1, 1000),
    loginFailureWindowSeconds: int(env, 'LOGIN_FAILURE_WINDOW_SECONDS', 900, 1, 86_400 * 7),
    loginRatePerIpPerMinute: int(env, 'LOGIN_RATE_PER_IP_PER_MINUTE', 60, 1, 1_000_000),
    registerRatePerIpPerMinute: int(env, 'REGISTER_RATE_PER_IP_PER_MINUTE', 300, 1, 1_000_000),
    trustProxy: trustProxy(env),
    corsOrigins: cors(env),
    console: bool(env, 'CONSOLE_ENABLED', true),
    production: isProduction(env),
    defaultPhoneRegion: defaultPhoneRegion(env),
    bootstrapAdminEmail,
    bootstrapAdminPassword,
    logLevel,
    logFormat: logFormat(env),
    readYourWritesTimeoutMs: int(env, 'READ_YOUR_WRITES_TIMEOUT_MS', 5000, 0, 60_000),
    sseHeartbeatMs: int(env, 'SSE_HEARTBEAT_MS', 15_000, 10, 600_000),
    sseBufferEvents: int(env, 'SSE_BUFFER_EVENTS', 1000, 1, 100_000),
    recovery: recoveryConfig(env, publicUrl),
    mfa: mfaConfig(env, publicUrl, env.PRODUCT_NAME?.trim() || 'authstream', (name, def, min, max) => int(env, name, def, min, max)),
    webhooks: {
      allowHttp: bool(env, 'WEBHOOKS_ALLOW_HTTP', false),
      allowPrivate: bool(env, 'WEBHOOKS_ALLOW_LINK_LOCAL', false),
      retryMaxSeconds: int(env, 'WEBHOOK_RETRY_MAX_SECONDS', 3600, 1, 86_400),
      disableAfterSeconds: int(env, 'WEBHOOK_DISABLE_AFTER_SECONDS', 5 * 86_400, 1, 60 * 86_400),
    },
  };
}

const isProduction = (env: Env): boolean => env.NODE_ENV?.trim() === 'production';

function recoveryConfig(env: Env, publicUrl: string): RecoveryConfig {
  const productName = env.PRODUCT_NAME?.trim() || 'authstream';
  const mailFrom = env.MAIL_FROM?.trim() || `${productName} <no-reply@${new URL(publicUrl).hostname}>`;
  if (!/<?[^\s<>@]+@[^\s<>@]+>?$/.test(mailFrom)) throw new ConfigError('MAIL_FROM', 'must be an address like "Name <no-reply@example.com>"');
  const smsWebhookToken = env.SMS_WEBHOOK_TOKEN?.trim() || undefined;
  const smsWebhookUrl = url(env, 'SMS_WEBHOOK_URL', ['http:', 'https:']);
  if (smsWebhookToken && !smsWebhookUrl) throw new ConfigError('SMS_WEBHOOK_TOKEN', 'is set but SMS_WEBHOOK_URL is not');
  const smtpUrl = url(env, 'SMTP_URL', ['smtp:', 'smtps:']);
  return {
    productName,
    smtpUrl,
    mailFrom,
    smsWebhookUrl,
    smsWebhookToken,
    passwordResetUrl: url(env, 'PASSWORD_RESET_URL', ['http:', 'https:']) ?? `${publicUrl}/reset-password`,
    emailVerifyUrl: url(env, 'EMAIL_VERIFY_URL', ['http:', 'https:']) ?? `${publicUrl}/verify-email`,
    passwordResetTtlSeconds: int(env, 'PASSWORD_RESET_TTL_SECONDS', 3600, 60, 86_400 * 7),
    emailVerifyTtlSeconds: int(env, 'EMAIL_VERIFY_TTL_SECONDS', 86_400 * 3, 60, 86_400 * 30),
    requireVerifiedIdentifier: bool(env, 'REQUIRE_VERIFIED_IDENTIFIER', false),
    ratePerIpPerMinute: int(env, 'RECOVERY_RATE_PER_IP_PER_MINUTE', 30, 1, 1_000_000),
    maxRequestsPerIdentifier: int(env, 'RECOVERY_MAX_REQUESTS', 5, 1, 1000),
    requestWindowSeconds: int(env, 'RECOVERY_WINDOW_SECONDS', 3600, 1, 86_400 * 7),
    logMessages: !isProduction(env),
    reactorLeaseMs: int(env, 'REACTOR_LEASE_MS', 30_000, 500, 600_000),
  };
}

/** The recovery rules commands decide with. */
export const recoveryPolicy = (config: Config): RecoveryPolicy => ({
  resetTtlSeconds: config.recovery.passwordResetTtlSeconds,
  emailVerifyTtlSeconds: config.recovery.emailVerifyTtlSeconds,
  requireVerifiedIdentifier: config.recovery.requireVerifiedIdentifier,
  maxRequests: config.recovery.maxRequestsPerIdentifier,
  windowSeconds: config.recovery.requestWindowSeconds,
});
