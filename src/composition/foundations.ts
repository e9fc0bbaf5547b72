/**
 * What everything else stands on: the master key and the SQL database. Each says exactly
 * what is wrong when it cannot be had, in one line naming the setting.
 */
import { chmodSync, existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { randomBytes } from 'node:crypto';
import { ConfigError, type Config } from '../config.js';
import { parseKey } from '../infra/crypto.js';
import { PgliteSql } from '../infra/sql/pglite.js';
import { PgSql } from '../infra/sql/pg.js';
import type { Sql } from '../ports/sql.js';

export interface MasterKey {
  key: Buffer;
  /** Where it came from: MASTER_KEY, or the file in DATA_DIR (and whether it was made just now). */
  source: { kind: 'env' } | { kind: 'file'; path: string; generated: boolean };
}

const GENERATE = 'openssl rand -base64 32';

/**
 * MASTER_KEY, or a key generated once and kept in DATA_DIR/master.key (0600). With a
 * PostgreSQL server the data outlives this machine but a file key does not, and every
 * instance needs the same key: in production (NODE_ENV=production) MASTER_KEY is then
 * required, elsewhere masterKeyWarning() says so at every start.
 */
export function openMasterKey(config: Config): MasterKey {
  if (config.masterKey !== undefined) {
    const key = parseKey(config.masterKey);
    if (!key) throw new ConfigError('MASTER_KEY', `must be 32 bytes, base64 or hex (generate one: ${GENERATE})`);
    return { key, source: { kind: 'env' } };
  }
  const path = resolve(join(config.dataDir, 'master.key'));
  if (existsSync(path)) {
    const key = parseKey(readFileSync(path, 'utf8'));
    if (!key) throw new ConfigError('MASTER_KEY', `${path} does not hold a 32-byte key`);
    return { key, source: { kind: 'file', path, generated: false } };
  }
  if (config.databaseUrl !== undefined && config.production) {
    throw new ConfigError('MASTER_KEY', 'is required with DATABASE_URL in production: every instance needs the same key, '
      + `kept apart from the database (generate one: ${GENERATE})`);
  }
  mkdirSync(config.dataDir, { recursive: true });
  const key = randomBytes(32);
  writeFileSync(path, `${key.toString('base64')}\n`, { mode: 0o600 });
  chmodSync(path, 0o600);
  return { key, source: { kind: 'file', path, generated: true } };
}

export function loadMasterKey(config: Config): Buffer {
  return openMasterKey(config).key;
}

/** A warning for a file key next to a PostgreSQL server (null when there is nothing to say). */
export function masterKeyWarning(config: Config, master: MasterKey): string | null {
  if (master.source.kind !== 'file' || config.databaseUrl === undefined) return null;
  return `MASTER_KEY is not set: the master key is ${master.source.generated ? 'a new one, generated into' : 'read from'} ${master.source.path}. `
    + 'The data is in PostgreSQL, but without this key every user\'s personal data and the signing keys are unreadable: '
    + `back it up apart from the database, and give every instance the same MASTER_KEY (generate one: ${GENERATE}).`;
}

/** What a failed connection to DATABASE_URL means, in words (never the password). */
export function connectionProblem(error: unknown, databaseUrl: string): string {
  const url = new URL(databaseUrl);
  const where = `${url.hostname}:${url.port || '5432'}`;
  const database = decodeURIComponent(url.pathname.replace(/^\//, '')) || url.username || 'postgres';
  const user = decodeURIComponent(url.username) || 'the default user';
  // The SQL adapter wraps driver errors (StoreUnavailableError): the driver's code is in a cause.
  type Failure = { code?: string; message?: string; cause?: unknown };
  let e = error as Failure;
  for (let c = error as Failure | undefined; c && typeof c === 'object'; c = c.cause as Failure | undefined) {
    if (typeof c.code === 'string' && c.code !== 'unavailable') {
      e = c;
      break;
    }
  }
  switch (e.code) {
    case '3D000': return `database "${database}" does not exist on ${where} (create it: createdb -h ${url.hostname} ${database})`;
    case '28P01': case '28000': return `PostgreSQL at ${where} refused the login of ${user} (check the user and password)`;
    case 'ECONNREFUSED': return `nothing accepts connections at ${where} (is PostgreSQL running, on that port?)`;
    case 'ENOTFOUND': case 'EAI_AGAIN': return `the host ${url.hostname} is not known`;
    case 'ETIMEDOUT': return `no answer from ${where}`;
    case '53300': return `PostgreSQL at ${where} has no connection left (too many clients)`;
    default: return `cannot connect to PostgreSQL at ${where}: ${(e.message ?? String(error)).replaceAll(url.password || '\u0000', '***').slice(0, 200)}`;
  }
}

export async function openSql(config: Config): Promise<Sql> {
  if (config.databaseUrl) {
    const sql = new PgSql({ connectionString: config.databaseUrl, max: config.databasePoolSize });
    try {
      await sql.query('select 1');
    } catch (error) {
      await sql.close();
      throw new ConfigError('DATABASE_URL', connectionProblem(error, config.databaseUrl));
    }
    return sql;
  }
  mkdirSync(config.dataDir, { recursive: true });
  return PgliteSql.open(join(config.dataDir, 'pglite'));
}
