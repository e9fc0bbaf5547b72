/** Second factors in HTTP tests: enrol a TOTP app as a user would, and compute its codes. */
import type { FastifyInstance } from 'fastify';
import { base32Decode, totpAt } from '../../src/infra/mfa/totp.js';
import { bearer, parse, post, PASSWORD } from './http.js';

export interface EnrolledTotp {
  factorId: string;
  secret: string;
  recoveryCodes: string[] | null;
}

/** The code of `secret` at `at` (default now); `stepOffset` moves it by whole 30-second steps. */
export function codeOf(secret: string, at: Date = new Date(), stepOffset = 0): string {
  const key = base32Decode(secret);
  if (!key) throw new Error('not base32');
  return totpAt(key, Math.floor(at.getTime() / 1000) + stepOffset * 30);
}

/**
 * Starts and confirms a TOTP enrolment for the bearer of `token`, with the code of the step
 * before now: now's code and the next one are left for signing in (each step is accepted once).
 */
export async function enrolTotp(app: FastifyInstance, token: string, password = PASSWORD, label?: string): Promise<EnrolledTotp> {
  const started = await post(app, '/v1/me/mfa/totp', { password, ...(label ? { label } : {}) }, bearer(token));
  if (started.statusCode !== 201) throw new Error(`start TOTP: ${started.statusCode} ${started.body}`);
  const { factor_id: factorId, secret } = parse<{ factor_id: string; secret: string }>(started);
  const confirmed = await post(app, `/v1/me/mfa/totp/${factorId}/confirm`, { code: codeOf(secret, new Date(), -1) }, bearer(token));
  if (confirmed.statusCode !== 201) throw new Error(`confirm TOTP: ${confirmed.statusCode} ${confirmed.body}`);
  return { factorId, secret, recoveryCodes: parse<{ recovery_codes: string[] | null }>(confirmed).recovery_codes };
}

export interface MfaRequiredBody {
  code: string;
  mfa_ticket: string;
  expires_in: number;
  mfa_methods: string[];
  webauthn: Record<string, unknown> | null;
}

/**
 * Waits, if a 30-second TOTP step ends within `marginMs`, until the next one has begun: a
 * test that reasons about "now's step" then runs inside one step.
 */
export async function awayFromStepEdge(marginMs = 3000): Promise<void> {
  const left = 30_000 - (Date.now() % 30_000);
  if (left < marginMs) await new Promise((r) => setTimeout(r, left + 100));
}
