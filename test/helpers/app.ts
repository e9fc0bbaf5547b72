/**
 * A whole service for a test: a fresh database (real PostgreSQL when it answers), a
 * runtime and the Fastify app, torn down with the test. `env` overrides configuration.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import type { FastifyInstance } from 'fastify';
import { Writable } from 'node:stream';
import { loadConfig, type Config } from '../../src/config.js';
import { buildApp } from '../../src/http/app.js';
import { createRuntime, type Runtime, type RuntimeOptions } from '../../src/composition/runtime.js';
import { createTestDatabase, type TestDatabase } from './db.js';
import type { EventStore } from '../../src/ports/eventStore.js';

interface T {
  teardown(fn: () => unknown): void;
  comment(...args: unknown[]): void;
}

export interface TestApp {
  app: FastifyInstance;
  runtime: Runtime;
  config: Config;
  db: TestDatabase;
  /** Every log line the app wrote (JSON strings). */
  logs: string[];
}

export async function buildTestApp(
  t: T,
  env: Record<string, string> = {},
  options: Omit<RuntimeOptions, 'sql'> & { db?: TestDatabase } = {},
): Promise<TestApp> {
  const db = options.db ?? (await createTestDatabase(t));
  const dataDir = mkdtempSync(join(tmpdir(), 'authstream-test-'));
  t.teardown(() => rmSync(dataDir, { recursive: true, force: true }));
  const config = loadConfig({
    DATA_DIR: dataDir,
    MASTER_KEY: randomBytes(32).toString('base64'),
    LOG_LEVEL: 'info',
    PUBLIC_URL: 'http://authstream.test',
    ...env,
  });
  const logs: string[] = [];
  const stream = new Writable({
    write(chunk, _enc, cb) {
      logs.push(String(chunk));
      cb();
    },
  });
  const store = options.store ?? (await eventStoreForTests(t));
  // Reactors append their records (MessageSent…) at moments of their own: only the suites
  // about them (a mail server or SMS sink configured) run them, so the others' logs stay exact.
  const reactors = options.reactors ?? Boolean(env.SMTP_URL || env.SMS_WEBHOOK_URL);
  const runtime = await createRuntime(config, { ...options, sql: db.sql, reactors, ...(store ? { store } : {}) });
  const app = await buildApp(runtime, { logger: { level: 'info', stream, redact: { paths: (await import('../../src/http/app.js')).REDACT, censor: '[redacted]' } } });
  await app.ready();
  t.teardown(async () => {
    await app.close();
    await runtime.close();
  });
  return { app, runtime, config, db, logs };
}

/**
 * With TEST_EVENT_STORE=eventstoredb (and EVENTSTORE_URL), the HTTP suites run their event
 * store on EventStoreDB; read models stay in the test's PostgreSQL database. Otherwise
 * undefined: the runtime uses the PostgreSQL event store in the test database.
 */
async function eventStoreForTests(t: T): Promise<EventStore | undefined> {
  if (process.env.TEST_EVENT_STORE !== 'eventstoredb') return undefined;
  const url = process.env.EVENTSTORE_URL;
  if (!url) throw new Error('TEST_EVENT_STORE=eventstoredb needs EVENTSTORE_URL');
  const { EventStoreDbEventStore } = await import('../../src/eventstore/eventstoredb/store.js');
  const store = await EventStoreDbEventStore.connect(url);
  t.teardown(() => store.close());
  return store;
}

/** Reads a JSON body from an inject response. */
export const json = <T = Record<string, unknown>>(res: { body: string }): T => JSON.parse(res.body) as T;
