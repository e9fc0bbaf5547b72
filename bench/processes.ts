/**
 * Child processes of the suite (the service, the bare Fastify baseline; the oidc-provider
 * peer in bench/peer.ts). What /proc tells about them is in bench/procStats.ts.
 *
 * The suite runs either compiled (`node dist/bench/run.js`, children `node dist/src/main.js`)
 * or from its TypeScript sources under a loader (the test imports bench/*.ts through tap's
 * ts-node loader); children then run the .ts sources with the same loader flags.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { createServer } from 'node:net';
import { fileURLToPath } from 'node:url';

/** True when this module runs from its .ts source (under a loader), not from dist/. */
export const fromSources = import.meta.url.endsWith('.ts');

const extension = fromSources ? '.ts' : '.js';

/** Path of a module next to this one (bench/) or in src/, in the form this run uses. */
export function modulePath(relative: string): string {
  return fileURLToPath(new URL(`${relative}${extension}`, import.meta.url));
}

/** Node flags a child needs to run the same kind of files as this process (loaders). */
function loaderFlags(): string[] {
  if (!fromSources) return [];
  const out: string[] = [];
  const argv = process.execArgv;
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i] as string;
    if (/^--(import|loader|experimental-loader|require)=/.test(a)) out.push(a);
    else if (/^--(import|loader|experimental-loader|require|r)$/.test(a) && argv[i + 1] !== undefined) {
      out.push(a, argv[i + 1] as string);
      i++;
    } else if (a === '--enable-source-maps' || a.startsWith('--experimental-strip-types')) out.push(a);
  }
  return out;
}

export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.unref();
    server.on('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      const port = typeof address === 'object' && address ? address.port : 0;
      server.close(() => resolve(port));
    });
  });
}

export interface Child {
  pid: number;
  url: string;
  /** What the child wrote to stderr (the last 64 KiB). */
  stderr(): string;
  /** SIGTERM, then SIGKILL after `graceMs`; resolves once the process has exited. */
  stop(graceMs?: number): Promise<void>;
}

function wrap(child: ChildProcess, url: string): Child {
  let err = '';
  child.stderr?.on('data', (chunk: Buffer) => {
    err = (err + chunk.toString('utf8')).slice(-65_536);
  });
  const exited = new Promise<void>((resolve) => {
    if (child.exitCode !== null || child.signalCode !== null) resolve();
    else child.once('exit', () => resolve());
  });
  return {
    pid: child.pid ?? -1,
    url,
    stderr: () => err,
    async stop(graceMs = 10_000) {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), graceMs);
      await exited;
      clearTimeout(timer);
    },
  };
}

async function waitUntil(ok: () => Promise<boolean>, child: ChildProcess, what: string, timeoutMs: number, stderr: () => string): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (child.exitCode !== null || child.signalCode !== null) {
      throw new Error(`${what} exited during start-up (${child.exitCode ?? child.signalCode}):\n${stderr().trim()}`);
    }
    if (await ok().catch(() => false)) return;
    if (Date.now() > deadline) throw new Error(`${what} did not start within ${timeoutMs} ms:\n${stderr().trim()}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

/**
 * The V8 flags the service runs with in production (`npm start`, Dockerfile; a test keeps
 * the three alike): a 4 MiB young-generation semi-space, and an old generation collected
 * once it has doubled its live size (left to V8, it grew to ~2.7 × the live size between
 * collections under load, and the RSS peak wandered between 160 and 211 MiB; at 1.5 × the
 * incremental marking that then runs most of the time cost GET /v1/me ~20 %).
 */
export const SERVICE_NODE_FLAGS = ['--max-semi-space-size=4', '--heap-growing-percent=100'] as const;

export interface ServiceOptions {
  databaseUrl: string;
  masterKey: string;
  dataDir: string;
  /** Extra environment (e.g. rate limits). */
  env?: Record<string, string>;
  /** Extra node flags (e.g. --cpu-prof). */
  nodeFlags?: string[];
  startTimeoutMs?: number;
}

/** Starts `node dist/src/main.js` (or src/main.ts) on a free loopback port; resolves once /health/live answers. */
export async function startService(options: ServiceOptions): Promise<Child> {
  const port = await freePort();
  const url = `http://127.0.0.1:${port}`;
  // SERVICE_NODE_FLAGS: how `npm start` and the Dockerfile run the service.
  const child = spawn(process.execPath, [...loaderFlags(), ...SERVICE_NODE_FLAGS, ...(options.nodeFlags ?? []), modulePath('../src/main')], {
    env: {
      ...process.env,
      DATABASE_URL: options.databaseUrl,
      PORT: String(port),
      HOST: '127.0.0.1',
      PUBLIC_URL: url,
      LOG_LEVEL: 'warn',
      MASTER_KEY: options.masterKey,
      DATA_DIR: options.dataDir,
      ...options.env,
    },
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  const wrapped = wrap(child, url);
  try {
    await waitUntil(async () => (await fetch(`${url}/health/live`)).ok, child, 'the service', options.startTimeoutMs ?? 90_000, wrapped.stderr);
  } catch (e) {
    await wrapped.stop(2000);
    throw e;
  }
  return wrapped;
}

/**
 * Starts a bench/ program that prints what the suite needs on its first stdout line (the
 * baseline its URL, the peer a JSON line) and resolves with the child and that line.
 */
export async function startPrinting(module: string, args: string[], what: string, startTimeoutMs: number): Promise<{ child: Child; line: string }> {
  const child = spawn(process.execPath, [...loaderFlags(), modulePath(module), ...args], {
    env: process.env,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  let line = '';
  child.stdout?.on('data', (chunk: Buffer) => {
    if (line === '') out += chunk.toString('utf8');
    if (out.includes('\n')) line = out.slice(0, out.indexOf('\n'));
  });
  const wrapped = wrap(child, '');
  try {
    await waitUntil(async () => line !== '', child, what, startTimeoutMs, wrapped.stderr);
  } catch (e) {
    await wrapped.stop(2000);
    throw e;
  }
  return { child: wrapped, line };
}

/** Starts the bare Fastify baseline (bench/baselineServer) and reads its URL from its first stdout line. */
export async function startBaseline(startTimeoutMs = 60_000): Promise<Child> {
  const { child, line } = await startPrinting('./baselineServer', [], 'the baseline server', startTimeoutMs);
  return { ...child, url: line };
}
