/**
 * Shared set-up of the admin API tests: a test app with a cheap (still argon2id) hasher,
 * an admin signed in, users registered over HTTP, and a small SSE client for a listening
 * server.
 */
import { randomUUID } from 'node:crypto';
import { request, type IncomingHttpHeaders, type IncomingMessage } from 'node:http';
import type { FastifyInstance } from 'fastify';
import { createUser } from '../../src/commands/registerUser.js';
import type { EventContext } from '../../src/ports/events.js';
import { Argon2Hasher } from '../../src/infra/passwordHasher.js';
import type { EventView } from '../../src/infra/redact.js';
import type { Runtime } from '../../src/composition/runtime.js';
import { buildTestApp, json, type TestApp } from './app.js';
import type { TestDatabase } from './db.js';

/** argon2id with small parameters: the same PHC strings ($argon2id$…), far less work. */
export const fastHasher = new Argon2Hasher({ memoryCost: 1024, timeCost: 1, parallelism: 1 });

interface T {
  teardown(fn: () => unknown): void;
  comment(...args: unknown[]): void;
}

export const PASSWORD = 'correct horse battery staple';

export interface Tokens {
  access_token: string;
  refresh_token: string;
  session_id: string;
  expires_in: number;
  user: { id: string; email: string | null; roles: string[] };
}

export interface AdminApp extends TestApp {
  adminId: string;
  admin: Tokens;
  /** `authorization` header of the admin. */
  auth: { authorization: string };
}

const cliCtx = (): EventContext => ({
  now: new Date(), correlationId: randomUUID(), causationId: null, actorId: null,
  requestId: null, ip: null, userAgent: 'admin test fixture',
});

/** Creates a user with the given roles directly through the command (no session), then logs in. */
export async function createAndLogin(app: FastifyInstance, runtime: Runtime, email: string, roles: string[]): Promise<Tokens> {
  const { position } = await createUser(runtime.deps, { email, password: PASSWORD, roles }, cliCtx());
  await runtime.readYourWrites(position);
  return login(app, email);
}

export async function login(app: FastifyInstance, email: string, password = PASSWORD, headers: Record<string, string> = {}): Promise<Tokens> {
  const res = await app.inject({ method: 'POST', url: '/v1/auth/login', payload: { email, password }, headers });
  if (res.statusCode !== 200) throw new Error(`login ${email}: ${res.statusCode} ${res.body}`);
  return json<Tokens>(res);
}

export async function register(app: FastifyInstance, body: Record<string, string>, headers: Record<string, string> = {}): Promise<Tokens> {
  const res = await app.inject({ method: 'POST', url: '/v1/auth/register', payload: { password: PASSWORD, ...body }, headers });
  if (res.statusCode !== 201) throw new Error(`register: ${res.statusCode} ${res.body}`);
  return json<Tokens>(res);
}

export async function buildAdminApp(t: T, env: Record<string, string> = {}, db?: TestDatabase): Promise<AdminApp> {
  const built = await buildTestApp(t, env, { hasher: fastHasher, ...(db ? { db } : {}) });
  const admin = await createAndLogin(built.app, built.runtime, `admin-${randomUUID().slice(0, 8)}@example.com`, ['user', 'admin']);
  return { ...built, adminId: admin.user.id, admin, auth: { authorization: `Bearer ${admin.access_token}` } };
}

export const bearer = (tokens: Tokens): { authorization: string } => ({ authorization: `Bearer ${tokens.access_token}` });

/// SSE over a real connection

export interface SseFrame {
  id: string | undefined;
  event: string;
  data: string;
}

/** Parses `text/event-stream` frames out of a growing text buffer; returns the rest. */
export function parseFrames(buffer: string): { frames: SseFrame[]; comments: string[]; rest: string } {
  const frames: SseFrame[] = [];
  const comments: string[] = [];
  const blocks = buffer.split('\n\n');
  const rest = blocks.pop() ?? '';
  for (const block of blocks) {
    let id: string | undefined;
    let event = 'message';
    const data: string[] = [];
    let hasField = false;
    for (const line of block.split('\n')) {
      if (line.startsWith(':')) {
        comments.push(line.slice(1).trim());
        continue;
      }
      const colon = line.indexOf(':');
      const field = colon === -1 ? line : line.slice(0, colon);
      const value = colon === -1 ? '' : line.slice(colon + 1).replace(/^ /, '');
      hasField = true;
      if (field === 'id') id = value;
      else if (field === 'event') event = value;
      else if (field === 'data') data.push(value);
    }
    if (hasField) frames.push({ id, event, data: data.join('\n') });
  }
  return { frames, comments, rest };
}

export interface SseClient {
  status: number;
  headers: IncomingHttpHeaders;
  /** Every raw text chunk read so far (for scans). */
  raw: string[];
  frames: SseFrame[];
  comments: string[];
  /** Waits until `predicate` holds on the frames read so far (bounded). */
  until(predicate: (frames: SseFrame[], comments: string[]) => boolean, timeoutMs?: number): Promise<void>;
  /** Resolves when the stream ends (the server ended it, or close()). */
  ended: Promise<void>;
  close(): void;
}

/**
 * GET over its own connection (node:http, no agent): nothing pooled or pre-connected is
 * left behind to hold up the server's close.
 */
export function httpGet(url: string, headers: Record<string, string>): Promise<IncomingMessage> {
  return new Promise((resolve, reject) => {
    const req = request(url, { method: 'GET', headers, agent: false }, resolve);
    req.on('error', reject);
    req.end();
  });
}

/** Reads a whole response body as text. */
export async function readBody(res: IncomingMessage): Promise<string> {
  let text = '';
  for await (const chunk of res) text += String(chunk);
  return text;
}

/** Opens GET `url` with Accept: text/event-stream and reads frames as they come. */
export async function openSse(url: string, headers: Record<string, string>): Promise<SseClient> {
  const res = await httpGet(url, { accept: 'text/event-stream', ...headers });
  res.setEncoding('utf8');
  const waiters = new Set<() => void>();
  const notify = () => {
    for (const w of [...waiters]) w();
  };
  let finished = false;
  let buffer = '';
  const client: SseClient = {
    status: res.statusCode ?? 0,
    headers: res.headers,
    raw: [],
    frames: [],
    comments: [],
    until: (predicate, timeoutMs = 10_000) => new Promise<void>((resolve, reject) => {
      const check = () => {
        if (predicate(client.frames, client.comments)) {
          cleanup();
          resolve();
        } else if (finished) {
          cleanup();
          reject(new Error(`stream ended; ${client.frames.length} frames read`));
        }
      };
      const timer = setTimeout(() => {
        cleanup();
        reject(new Error(`timed out; ${client.frames.length} frames read`));
      }, timeoutMs);
      const cleanup = () => {
        clearTimeout(timer);
        waiters.delete(check);
      };
      waiters.add(check);
      check();
    }),
    ended: new Promise<void>((resolve) => {
      res.on('close', () => {
        finished = true;
        notify();
        resolve();
      });
    }),
    close: () => res.destroy(),
  };
  res.on('data', (text: string) => {
    client.raw.push(text);
    const parsed = parseFrames(buffer + text);
    buffer = parsed.rest;
    client.frames.push(...parsed.frames);
    client.comments.push(...parsed.comments);
    notify();
  });
  res.on('error', () => {});
  return client;
}

/** The event of an SSE frame. */
export const frameEvent = (frame: SseFrame): EventView => JSON.parse(frame.data) as EventView;
