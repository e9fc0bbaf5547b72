/**
 * Errors under /oauth/*: RFC 6749 §5.2 `{ error, error_description }`, not problem+json.
 * A thrown OAuthError is sent as it is; anything else goes through the one problem table
 * (src/http/problem.ts), whose `oauth` column names its RFC 6749 error. The status is the
 * problem's when it is about transport or load (413, 415, 429, 5xx), else 400, as RFC
 * 6749 §5.2 has it. Never a 5xx for the client's input.
 */
import type { FastifyReply, FastifyRequest } from 'fastify';
import { PROBLEMS, toProblem, type OAuthErrorCode } from '../../problem.js';

export type { OAuthErrorCode } from '../../problem.js';

export class OAuthError extends Error {
  readonly status: number;
  readonly error: OAuthErrorCode;
  readonly headers: Record<string, string>;
  /** Further members of the error object (the MFA ticket of `mfa_required`). */
  readonly extensions: Record<string, unknown>;
  constructor(status: number, error: OAuthErrorCode, description: string, headers: Record<string, string> = {}, extensions: Record<string, unknown> = {}) {
    super(description);
    this.name = 'OAuthError';
    this.status = status;
    this.error = error;
    this.headers = headers;
    this.extensions = extensions;
  }
}

export const invalidRequest = (description: string): OAuthError => new OAuthError(400, 'invalid_request', description);
export const invalidGrant = (description: string): OAuthError => new OAuthError(400, 'invalid_grant', description);

/** A required parameter's value; an empty one counts as missing (RFC 6749 §3.2). */
export function required(value: string | undefined, name: string): string {
  if (value === undefined || value === '') throw invalidRequest(`the parameter ${name} is required`);
  return value;
}

const KEEPS_STATUS = new Set([413, 415, 429, 500, 503]);

/** Any error thrown under /oauth → an RFC 6749 §5.2 error. */
export function toOAuthError(error: unknown, request: FastifyRequest): OAuthError {
  if (error instanceof OAuthError) return error;
  const { problem, headers } = toProblem(error, request);
  const status = KEEPS_STATUS.has(problem.status) ? problem.status : 400;
  return new OAuthError(status, PROBLEMS[problem.code].oauth, problem.detail, headers);
}

export function sendOAuthError(reply: FastifyReply, e: OAuthError): FastifyReply {
  for (const [k, v] of Object.entries(e.headers)) reply.header(k, v);
  return reply.code(e.status).type('application/json; charset=utf-8').send({ error: e.error, error_description: e.message, ...e.extensions });
}
