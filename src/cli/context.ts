/**
 * What the operator commands open from the environment, and how they report. Read-only
 * commands open only the stores and the codec (no projection runner, no side effects);
 * commands that act open a whole Runtime. Either is closed before the command returns.
 */
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { ConfigError, loadConfig, type Config } from '../config.js';
import { ValidationError } from '../domain/errors.js';
import type { EventStore } from '../ports/eventStore.js';
import { EventCodec } from '../infra/eventCodec.js';
import { PgKeyStore } from '../infra/keyStore.js';
import type { Sql } from '../ports/sql.js';
import { createRuntime, loadMasterKey, openSql, openStore, type Runtime } from '../composition/runtime.js';
import type { CliIo } from './command.js';

/** A failure the command explains in one line (exit code 1, or 2 for a usage error). */
export class CliError extends Error {
  readonly exitCode: number;
  constructor(message: string, exitCode = 1) {
    super(message);
    this.name = 'CliError';
    this.exitCode = exitCode;
  }
}

/** Runs a command body; any error becomes one line on stderr and an exit code, never a stack trace. */
export async function guarded(io: CliIo, command: string, body: () => Promise<number>): Promise<number> {
  try {
    return await body();
  } catch (e) {
    const message = e instanceof ConfigError ? `configuration error: ${e.message}`
      : e instanceof ValidationError ? `${e.path.replace(/^\//, '')} ${e.message}`
      : e instanceof Error ? e.message : String(e);
    io.err.write(`authstream ${command}: ${message}\n`);
    return e instanceof CliError ? e.exitCode : 1;
  }
}

export interface StoreReader {
  config: Config;
  sql: Sql;
  store: EventStore;
  codec: EventCodec;
  close(): Promise<void>;
}

/**
 * The event store and the codec that decrypts personal data. Refuses to run without the
 * master key rather than generate one (that would show every event as shredded).
 */
export async function openReader(env: NodeJS.ProcessEnv): Promise<StoreReader> {
  const config = loadConfig(env);
  if (config.masterKey === undefined && !existsSync(join(config.dataDir, 'master.key'))) {
    throw new ConfigError('MASTER_KEY', `is not set and ${join(config.dataDir, 'master.key')} does not exist`);
  }
  const master = loadMasterKey(config);
  const sql = await openSql(config);
  let store: EventStore | undefined;
  try {
    store = await openStore(config, sql);
    const keys = await PgKeyStore.open(sql, master);
    const opened = store;
    return {
      config, sql, store: opened, codec: new EventCodec(keys),
      async close() {
        await opened.close().catch(() => {});
        await sql.close().catch(() => {});
      },
    };
  } catch (e) {
    await store?.close().catch(() => {});
    await sql.close().catch(() => {});
    throw e;
  }
}

/**
 * A whole Runtime (commands, projections) for `fn`, closed afterwards. `projections: false`
 * for bulk writers that never read their writes back (an import): decoding everything
 * they append would only slow them down.
 */
export async function withRuntime(io: CliIo, fn: (runtime: Runtime) => Promise<number>, options: { projections?: boolean } = {}): Promise<number> {
  const runtime = await createRuntime(loadConfig(io.env), {
    log: {
      error: (obj, msg) => io.err.write(`${msg}${obj.err instanceof Error ? `: ${obj.err.message}` : ''}\n`),
      warn: (_obj, msg) => io.err.write(`${msg}\n`),
    },
    reactors: false, // a short-lived command sends nothing: the running service's reactors act on what it appends
    ...(options.projections === false ? { projections: false } : {}),
  });
  try {
    return await fn(runtime);
  } finally {
    await runtime.close();
  }
}

/** Aborted by io.signal, or else by SIGINT / SIGTERM (for --follow). */
export function stopSignal(io: CliIo): { signal: AbortSignal; dispose(): void } {
  if (io.signal) return { signal: io.signal, dispose: () => {} };
  const controller = new AbortController();
  const stop = (): void => controller.abort();
  process.once('SIGINT', stop);
  process.once('SIGTERM', stop);
  return {
    signal: controller.signal,
    dispose: () => {
      process.removeListener('SIGINT', stop);
      process.removeListener('SIGTERM', stop);
    },
  };
}

/** A whole number option (a position, a count), or a usage error. */
export function wholeNumber(value: string | boolean | string[] | boolean[] | undefined, option: string): bigint | undefined {
  if (value === undefined) return undefined;
  if (typeof value !== 'string' || !/^[0-9]{1,19}$/.test(value) || BigInt(value) > 9_223_372_036_854_775_807n) {
    throw new CliError(`${option} must be a whole number`, 2);
  }
  return BigInt(value);
}

/** A string option, or undefined. */
export function stringOption(value: string | boolean | string[] | boolean[] | undefined): string | undefined {
  return typeof value === 'string' ? value : undefined;
}
