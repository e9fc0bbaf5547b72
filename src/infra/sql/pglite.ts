/** The Sql port on embedded PGlite (the zero-configuration default): one connection, statements in order. */
import { spawn } from 'node:child_process';
import { existsSync, readFileSync, rmSync, unlinkSync, writeFileSync } from 'node:fs';
import { dirname, extname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { ConfigError } from '../../config.js';
import { StoreUnavailableError } from '../../ports/eventStore.js';
import type { BatchOutcome, QueryResult, Sql, SqlExecutor, Statement, TransactionOptions } from '../../ports/sql.js';

import { batchOneByOne, inOrder } from './sequential.js';
import { PGLITE_CONF } from './pgliteConf.js';

type PGliteLike = {
  query<R>(text: string, params?: unknown[]): Promise<{ rows: R[]; affectedRows?: number }>;
  exec(text: string): Promise<unknown>;
  transaction<T>(fn: (tx: { query<R>(text: string, params?: unknown[]): Promise<{ rows: R[]; affectedRows?: number }> }) => Promise<T>): Promise<T>;
  listen(channel: string, cb: (payload: string) => void): Promise<() => Promise<void>>;
  close(): Promise<void>;
};

export class PgliteSql implements Sql {
  readonly kind = 'pglite' as const;
  readonly #db: PGliteLike;
  #closed = false;

  readonly #unlock: () => void;

  private constructor(db: PGliteLike, unlock: () => void) {
    this.#db = db;
    this.#unlock = unlock;
  }

  /**
   * `dataDir` undefined: in memory. A data directory is held by one process at a time (a
   * lock file beside it naming the holder's pid): a second process, say the CLI while the
   * service runs, is refused with a clear error instead of writing into a copy the running
   * one never sees. A lock left by a process that no longer exists (kill -9) is taken over.
   */
  static async open(dataDir?: string): Promise<PgliteSql> {
    const unlock = dataDir === undefined ? () => {} : lockDataDir(`${dataDir}.lock`);
    try {
      if (dataDir !== undefined && !existsSync(join(dataDir, 'PG_VERSION'))) await initialise(dataDir);
      const { PGlite } = await import('@electric-sql/pglite');
      // pg_trgm: the admin search's index (src/projections/users/searchText.ts).
      const { pg_trgm } = await import('@electric-sql/pglite/contrib/pg_trgm');
      const db = (await PGlite.create(dataDir, {
        parsers: { 20: (v: string) => BigInt(v) }, postgresqlconf: PGLITE_CONF, extensions: { pg_trgm },
      })) as unknown as PGliteLike;
      return new PgliteSql(db, unlock);
    } catch (e) {
      unlock();
      throw e;
    }
  }

  #check(): void {
    if (this.#closed) throw new StoreUnavailableError('embedded database closed');
  }

  async query<R>(text: string, params?: readonly unknown[]): Promise<QueryResult<R>> {
    this.#check();
    const r = await this.#db.query<R>(text, params as unknown[] | undefined);
    return { rows: r.rows, rowCount: r.affectedRows || r.rows.length };
  }

  async exec(text: string): Promise<void> {
    this.#check();
    await this.#db.exec(text);
  }

  async transaction<T>(fn: (tx: SqlExecutor, first: Record<string, unknown>[]) => Promise<T>, options: TransactionOptions = {}): Promise<T> {
    this.#check();
    return this.#db.transaction(async (inner) => {
      const tx: SqlExecutor = {
        query: async <R>(text: string, params?: readonly unknown[]) => {
          const r = await inner.query<R>(text, params as unknown[] | undefined);
          return { rows: r.rows, rowCount: r.affectedRows || r.rows.length };
        },
      };
      // In-process: no round trip to save; the first statement simply runs first.
      const first = options.first === undefined ? [] : (await tx.query<Record<string, unknown>>(options.first)).rows;
      return fn(tx, first);
    });
  }

  async pipelinedTransaction<T>(first: string, fn: (tx: SqlExecutor, first: Promise<Record<string, unknown>[]>) => Promise<T>): Promise<T> {
    // In-process: nothing to pipeline. Statements issued together run one at a time, in order.
    return this.transaction(async (tx, rows) => fn(inOrder(tx, Promise.resolve()), Promise.resolve(rows)), { first });
  }

  async pipelinedBatch(first: string, statements: readonly Statement[]): Promise<BatchOutcome> {
    return batchOneByOne(this, first, statements);
  }

  async listen(channel: string, onNotify: (payload: string) => void): Promise<() => Promise<void>> {
    this.#check();
    return this.#db.listen(channel, onNotify);
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    try {
      await this.#db.close();
    } finally {
      this.#unlock();
    }
  }
}

/** Lock files this process holds (a lock naming our pid that is not here is a previous process's: a container's pid 1). */
const held = new Set<string>();

/** Takes the lock file (exclusive create, or over a dead holder's); returns its release. */
function lockDataDir(lockFile: string): () => void {
  for (let attempt = 0; attempt < 2; attempt++) {
    try {
      writeFileSync(lockFile, `${process.pid}\n`, { flag: 'wx', mode: 0o600 });
      held.add(lockFile);
      return () => {
        held.delete(lockFile);
        try {
          if (readFileSync(lockFile, 'utf8').trim() === String(process.pid)) unlinkSync(lockFile);
        } catch {
          // already gone
        }
      };
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e;
      const holder = Number.parseInt(readFileSync(lockFile, 'utf8'), 10);
      const ours = holder === process.pid;
      if (Number.isInteger(holder) && holder > 0 && (ours ? held.has(lockFile) : isAlive(holder))) {
        throw new ConfigError('DATA_DIR', `the embedded database ${lockFile.replace(/\.lock$/, '')} is in use by process ${holder} `
          + '(a running authstream?): stop it first, or run this against the service\'s PostgreSQL with DATABASE_URL');
      }
      rmSync(lockFile, { force: true }); // its holder is gone: take it over
    }
  }
  throw new ConfigError('DATA_DIR', `cannot take the lock ${lockFile}`);
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/**
 * A first start's initdb, in a child process (pgliteInit): its memory goes with the child.
 * The child runs as this process does (the TypeScript loader of a test run included).
 */
async function initialise(dataDir: string): Promise<void> {
  const here = fileURLToPath(import.meta.url);
  const script = join(dirname(here), `pgliteInit${extname(here)}`);
  await new Promise<void>((resolve, reject) => {
    const child = spawn(process.execPath, [...process.execArgv, script, dataDir], { stdio: ['ignore', 'ignore', 'pipe'] });
    let stderr = '';
    child.stderr.on('data', (chunk: Buffer) => {
      stderr = (stderr + chunk.toString()).slice(-2000);
    });
    child.on('error', reject);
    child.on('exit', (code) => (code === 0 ? resolve() : reject(new Error(`creating the embedded database in ${dataDir} failed (${code}): ${stderr.trim()}`))));
  });
}
