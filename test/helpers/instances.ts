/**
 * Real service processes for system tests, each on a free loopback port, all on one fresh
 * PostgreSQL database, one master key and one public URL (so tokens from one verify on the
 * others). Killed at teardown; `kill('SIGKILL')` simulates a crash. Each runs the compiled
 * `dist/src/main.js` when that build is newer than every source file (as after `npm ci`,
 * whose prepare step builds it, and as `scripts/build-if-stale.mjs` judges it), and
 * `src/main.ts` under this test's TypeScript loader otherwise: compiling the whole service
 * in every child took most of a start-up on a loaded CI machine (a minute, at worst).
 */
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import net from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';
import type { Test } from 'tap';
import { createTestDatabaseUrl } from './db.js';
import { staleSince } from '../../scripts/buildStamp.mjs';

export interface Instance {
  readonly name: string;
  readonly url: string;
  readonly child: ChildProcess;
  /** What the process wrote to stderr and stdout (its log lines). */
  readonly output: string[];
  /** Sends the signal and waits for the exit. */
  kill(signal?: NodeJS.Signals): Promise<void>;
}

export interface Cluster {
  instances: Instance[];
  databaseUrl: string;
  env: Record<string, string>;
  /** Starts one more instance with the cluster's settings (after a crash, say). */
  start(name: string, over?: Record<string, string>): Promise<Instance>;
}

export async function freePort(): Promise<number> {
  const server = net.createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as net.AddressInfo).port;
  await new Promise((resolve) => server.close(resolve));
  return port;
}

async function waitReady(url: string, child: ChildProcess, output: string[], timeoutMs = 60_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (child.exitCode !== null) throw new Error(`instance exited (${child.exitCode}) before it was ready:\n${output.join('')}`);
    try {
      const res = await fetch(`${url}/health/ready`);
      if (res.status === 200) return;
    } catch {
      // not listening yet
    }
    if (Date.now() > deadline) throw new Error(`instance at ${url} not ready in ${timeoutMs} ms:\n${output.join('')}`);
    await sleep(100);
  }
}

let entry: string[] | undefined;

/** The service's entry point and node arguments: the current build, else the sources under the loader. */
function serviceEntry(): string[] {
  if (entry) return entry;
  // Only what the service's own build depends on: a changed bench or console leaves it current.
  if (!staleSince(['src', 'tsconfig.json', 'tsconfig.build.json', 'package-lock.json']) && existsSync(join('dist', 'src', 'main.js'))) {
    entry = [join('dist', 'src', 'main.js')];
  } else {
    const loader = process.execArgv.filter((a) => a.includes('@tapjs/typescript') || a.startsWith('--import') || a.startsWith('--loader'));
    entry = [...loader, 'src/main.ts'];
  }
  return entry;
}

export async function startInstance(
  t: Test, name: string, env: Record<string, string>, port?: number,
): Promise<Instance> {
  const listenPort = port ?? (await freePort());
  const url = `http://127.0.0.1:${listenPort}`;
  const child = spawn(process.execPath, serviceEntry(), {
    env: { ...process.env, LOG_LEVEL: 'warn', ...env, PORT: String(listenPort), HOST: '127.0.0.1' },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const output: string[] = [];
  child.stdout?.on('data', (chunk) => output.push(String(chunk)));
  child.stderr?.on('data', (chunk) => output.push(String(chunk)));
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const kill = async (signal: NodeJS.Signals = 'SIGTERM'): Promise<void> => {
    if (child.exitCode === null && child.signalCode === null) child.kill(signal);
    await exited;
  };
  t.teardown(() => kill('SIGKILL'));
  await waitReady(url, child, output);
  return { name, url, child, output, kill };
}

/**
 * `count` instances on one fresh database; undefined when no PostgreSQL server answers.
 * `databaseUrl` may rewrite the URL the instances get (to go through a TCP proxy).
 */
export async function startCluster(
  t: Test, count: number, env: Record<string, string> = {},
  options: { databaseUrl?: (url: string) => Promise<string> } = {},
): Promise<Cluster | undefined> {
  const created = await createTestDatabaseUrl(t);
  if (!created) return undefined;
  const databaseUrl = options.databaseUrl ? await options.databaseUrl(created) : created;
  const shared: Record<string, string> = {
    DATABASE_URL: databaseUrl,
    MASTER_KEY: randomBytes(32).toString('base64'),
    PUBLIC_URL: 'http://authstream.test',
    // Several processes and the other test files share the server's max_connections (100).
    DATABASE_POOL_SIZE: '6',
    ...env,
  };
  // The first one migrates the database; the others start on it side by side.
  const first = await startInstance(t, 'A', shared);
  const rest = await Promise.all(Array.from({ length: count - 1 }, (_, i) => startInstance(t, String.fromCharCode(66 + i), shared)));
  return {
    instances: [first, ...rest],
    databaseUrl,
    env: shared,
    start: (name, over = {}) => startInstance(t, name, { ...shared, ...over }),
  };
}

/** POST/GET JSON to an instance; the parsed body (or null) and the status. */
export async function call(
  instance: { url: string }, method: string, path: string, body?: unknown, headers: Record<string, string> = {},
): Promise<{ status: number; body: any; headers: Headers }> { // eslint-disable-line @typescript-eslint/no-explicit-any
  const res = await fetch(`${instance.url}${path}`, {
    method,
    headers: { ...(body === undefined ? {} : { 'content-type': 'application/json' }), ...headers },
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
  });
  const text = await res.text();
  let parsed: unknown = null;
  try {
    parsed = text ? JSON.parse(text) : null;
  } catch {
    parsed = text;
  }
  return { status: res.status, body: parsed, headers: res.headers };
}
