/**
 * Shared helpers of the HTTP tests: problem+json assertions, typed bodies, quick account
 * set-up, hand-made JWTs (forged, expired, alg none, HS256…) and a cheaper password hasher
 * for the tests that hash a lot.
 */
import tap from 'tap';
import { createHmac, createPrivateKey, generateKeyPairSync, randomUUID, sign, type KeyObject } from 'node:crypto';
import type { FastifyInstance, InjectOptions, LightMyRequestResponse } from 'fastify';
import { Argon2Hasher } from '../../src/infra/passwordHasher.js';

/** The `t` a subtest callback receives. */
export type Tap = Parameters<Parameters<typeof tap.test>[0]>[0];

export interface ProblemBody {
  type: string;
  title: string;
  status: number;
  detail: string;
  code: string;
  instance?: string;
  errors?: { path: string; message: string }[];
}

export interface UserBody {
  id: string;
  email: string | null;
  phone: string | null;
  first_name: string;
  last_name: string;
  roles: string[];
  status: 'active' | 'disabled' | 'erased';
  created_at: string;
  updated_at: string;
}

export interface TokenBody {
  access_token: string;
  token_type: 'Bearer';
  expires_in: number;
  refresh_token: string;
  refresh_expires_in: number;
  session_id: string;
  user: UserBody;
}

export interface SessionBody {
  id: string;
  created_at: string;
  last_used_at: string;
  expires_at: string;
  user_agent: string | null;
  ip: string | null;
  current: boolean;
}

export interface ActivityBody {
  type: string;
  occurred_at: string;
  session_id?: string | null;
  ip?: string | null;
  user_agent?: string | null;
}

/** argon2id at a fraction of the production cost, for files that hash many passwords. */
export const cheapHasher = (): Argon2Hasher => new Argon2Hasher({ memoryCost: 1024, timeCost: 1, parallelism: 1 });

export const PASSWORD = 'correct horse battery staple';

export const UUID_RE = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;
export const ISO_RE = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?Z$/;

let counter = 0;
/** A fresh, unique email address. */
export const uniqueEmail = (prefix = 'user'): string => `${prefix}.${process.pid}.${++counter}.${randomUUID().slice(0, 8)}@example.com`;

export const bearer = (token: string): Record<string, string> => ({ authorization: `Bearer ${token}` });

export function parse<T>(res: { body: string }): T {
  return JSON.parse(res.body) as T;
}

/**
 * Asserts an RFC 9457 answer: status, content type, the five fields and the stable code.
 * Returns the body for further checks.
 */
export function expectProblem(t: Tap, res: LightMyRequestResponse, status: number, code: string, label = ''): ProblemBody {
  const where = label ? `${label}: ` : '';
  t.equal(res.statusCode, status, `${where}status ${status}`, { body: res.body.slice(0, 500) });
  t.match(String(res.headers['content-type']), /^application\/problem\+json/, `${where}problem+json`);
  const body = parse<ProblemBody>(res);
  t.equal(body.code, code, `${where}code ${code}`);
  t.equal(body.status, status, `${where}status field`);
  t.type(body.type, 'string', `${where}type`);
  t.type(body.title, 'string', `${where}title`);
  t.type(body.detail, 'string', `${where}detail`);
  if (code === 'validation_failed') {
    t.ok(Array.isArray(body.errors) && body.errors.length > 0, `${where}errors[] present`);
    for (const e of body.errors ?? []) {
      t.type(e.path, 'string', `${where}errors[].path`);
      t.type(e.message, 'string', `${where}errors[].message`);
    }
  }
  return body;
}

/** A validation problem that names the offending field. */
export function expectValidation(t: Tap, res: LightMyRequestResponse, path: string | RegExp, label = ''): ProblemBody {
  const body = expectProblem(t, res, 400, 'validation_failed', label);
  t.ok(Array.isArray(body.errors) && body.errors.length > 0, `${label}: errors[] present`);
  const paths = (body.errors ?? []).map((e) => e.path);
  t.ok(paths.some((p) => (typeof path === 'string' ? p === path : path.test(p))), `${label}: errors name ${String(path)} (got ${paths.join(', ')})`);
  return body;
}

/** app.inject with a JSON payload and optional headers. */
export function post(app: FastifyInstance, url: string, payload?: unknown, headers: Record<string, string> = {}): Promise<LightMyRequestResponse> {
  const opts: InjectOptions = { method: 'POST', url, headers };
  if (payload !== undefined) opts.payload = payload as InjectOptions['payload'];
  return app.inject(opts);
}

/**
 * Asserts the status on `t`; with `null` (set-up at the top level of a file, where the
 * root test must not get assertions after it may have ended) throws instead.
 */
function expectStatus(t: Tap | null, res: LightMyRequestResponse, status: number, label: string): void {
  if (t) t.equal(res.statusCode, status, `${label} → ${status}`, { body: res.body.slice(0, 500) });
  else if (res.statusCode !== status) throw new Error(`${label}: ${res.statusCode} ${res.body.slice(0, 500)}`);
}

export async function register(
  t: Tap | null,
  app: FastifyInstance,
  body: Record<string, unknown> = {},
  headers: Record<string, string> = {},
): Promise<TokenBody> {
  const res = await post(app, '/v1/auth/register', { email: uniqueEmail(), password: PASSWORD, ...body }, headers);
  expectStatus(t, res, 201, 'register');
  return parse<TokenBody>(res);
}

export async function login(
  t: Tap | null,
  app: FastifyInstance,
  body: Record<string, unknown>,
  headers: Record<string, string> = {},
): Promise<TokenBody> {
  const res = await post(app, '/v1/auth/login', body, headers);
  expectStatus(t, res, 200, 'login');
  return parse<TokenBody>(res);
}

export function getMe(app: FastifyInstance, token: string): Promise<LightMyRequestResponse> {
  return app.inject({ method: 'GET', url: '/v1/me', headers: bearer(token) });
}

/// Hand-made JWTs

const b64 = (value: unknown): string => Buffer.from(JSON.stringify(value)).toString('base64url');

export type JwtSigner =
  | { alg: 'EdDSA'; key: KeyObject | string }
  | { alg: 'HS256'; secret: string | Buffer }
  | { alg: 'none' };

/** Builds a compact JWS with exactly this header and payload. */
export function makeJwt(header: Record<string, unknown>, payload: Record<string, unknown>, signer: JwtSigner): string {
  const input = `${b64(header)}.${b64(payload)}`;
  switch (signer.alg) {
    case 'EdDSA': {
      const key = typeof signer.key === 'string' ? createPrivateKey(signer.key) : signer.key;
      return `${input}.${sign(null, Buffer.from(input), key).toString('base64url')}`;
    }
    case 'HS256':
      return `${input}.${createHmac('sha256', signer.secret).update(input).digest('base64url')}`;
    case 'none':
      return `${input}.`;
  }
}

export const newEd25519Key = (): KeyObject => generateKeyPairSync('ed25519').privateKey;

/** Claims like the service's own, for the given session; override any of them. */
export function claims(
  over: { sub: string; sid: string; iss: string; aud: string } & Record<string, unknown>,
): Record<string, unknown> {
  const now = Math.floor(Date.now() / 1000);
  return { roles: ['user'], jti: randomUUID(), iat: now, exp: now + 300, ...over };
}

/** Decodes a JWT's header and payload (no verification). */
export function decodeJwt(token: string): { header: Record<string, unknown>; payload: Record<string, unknown> } {
  const [h, p] = token.split('.');
  return {
    header: JSON.parse(Buffer.from(h ?? '', 'base64url').toString('utf8')) as Record<string, unknown>,
    payload: JSON.parse(Buffer.from(p ?? '', 'base64url').toString('utf8')) as Record<string, unknown>,
  };
}

export const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));
