/**
 * RFC 9457 problem details. One table maps every stable `code` to its status and title;
 * one root error handler writes `application/problem+json` and never exposes internals of
 * a 5xx. No input, however malformed, gets a 5xx: only a backing store that is down gives
 * 503 `unavailable`.
 */
import type { FastifyError, FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { isDomainError, ValidationError, type DomainErrorCode } from '../domain/errors.js';
import { isConcurrencyConflict, isStoreUnavailable } from '../ports/eventStore.js';
import { fieldErrorsOf, summary, type AjvError, type FieldError } from './validationMessages.js';

export type ProblemCode =
  | DomainErrorCode
  | 'unauthorized'
  | 'method_not_allowed'
  | 'payload_too_large'
  | 'unsupported_media_type'
  | 'unavailable'
  | 'mfa_required'
  | 'internal_error';

/** RFC 6749 §5.2, RFC 6750 §3.1 and RFC 8414 error codes: what a problem is called under /oauth/*. */
export type OAuthErrorCode =
  | 'invalid_request'
  | 'invalid_grant'
  | 'unsupported_grant_type'
  | 'invalid_token'
  | 'insufficient_scope'
  | 'temporarily_unavailable'
  | 'mfa_required'
  | 'server_error';

/**
 * The one table: every stable code with its status and title, and the RFC 6749 error it
 * becomes under /oauth/* (whose answers are `{ error, error_description }`).
 */
export const PROBLEMS: { readonly [C in ProblemCode]: { status: number; title: string; oauth: OAuthErrorCode } } = {
  validation_failed: { status: 400, title: 'Invalid request', oauth: 'invalid_request' },
  weak_password: { status: 400, title: 'Password too weak', oauth: 'invalid_request' },
  identifier_taken: { status: 409, title: 'Identifier already registered', oauth: 'invalid_request' },
  invalid_credentials: { status: 401, title: 'Invalid credentials', oauth: 'invalid_grant' },
  account_disabled: { status: 403, title: 'Account disabled', oauth: 'invalid_grant' },
  invalid_token: { status: 401, title: 'Invalid token', oauth: 'invalid_grant' },
  token_reused: { status: 401, title: 'Refresh token reused', oauth: 'invalid_grant' },
  unauthorized: { status: 401, title: 'Authentication required', oauth: 'invalid_token' },
  forbidden: { status: 403, title: 'Forbidden', oauth: 'insufficient_scope' },
  not_found: { status: 404, title: 'Not found', oauth: 'invalid_request' },
  method_not_allowed: { status: 405, title: 'Method not allowed', oauth: 'invalid_request' },
  payload_too_large: { status: 413, title: 'Payload too large', oauth: 'invalid_request' },
  unsupported_media_type: { status: 415, title: 'Unsupported media type', oauth: 'invalid_request' },
  rate_limited: { status: 429, title: 'Too many requests', oauth: 'invalid_grant' },
  conflict: { status: 409, title: 'Conflict', oauth: 'invalid_request' },
  invalid_code: { status: 400, title: 'Invalid or expired code', oauth: 'invalid_grant' },
  identifier_unverified: { status: 403, title: 'Identifier not verified', oauth: 'invalid_grant' },
  mfa_required: { status: 403, title: 'Second factor required', oauth: 'mfa_required' },
  unavailable: { status: 503, title: 'Service unavailable', oauth: 'temporarily_unavailable' },
  internal_error: { status: 500, title: 'Internal server error', oauth: 'server_error' },
};

export type { FieldError };

export interface Problem {
  type: string;
  title: string;
  status: number;
  detail: string;
  code: ProblemCode;
  instance?: string;
  errors?: FieldError[];
}

export class HttpProblem extends Error {
  readonly code: ProblemCode;
  readonly headers: Record<string, string>;
  /** Extension members (RFC 9457 §3.2), e.g. the ticket of `mfa_required`; the route's schema must list them. */
  readonly extensions: Record<string, unknown>;
  constructor(code: ProblemCode, detail: string, headers: Record<string, string> = {}, extensions: Record<string, unknown> = {}) {
    super(detail);
    this.name = 'HttpProblem';
    this.code = code;
    this.headers = headers;
    this.extensions = extensions;
  }
}

export function problem(code: ProblemCode, detail: string, extra: Partial<Problem> & Record<string, unknown> = {}): Problem {
  const { status, title } = PROBLEMS[code];
  return { type: `https://authstream.dev/problems/${code.replace(/_/g, '-')}`, title, status, detail, code, ...extra };
}

/**
 * The challenge of a 401 (RFC 7235 §3.1 asks one of every 401; RFC 6750 §3 says what a
 * Bearer one holds): without credentials just the scheme, with a bad token `invalid_token`.
 */
export const BEARER_REALM = 'Bearer realm="authstream"';

export function bearerChallenge(code: string): string {
  if (code === 'invalid_token' || code === 'token_reused') return `${BEARER_REALM}, error="invalid_token"`;
  return BEARER_REALM;
}

/** The problem code each error answer carried (the metrics label auth outcomes by it). */
const answeredCodes = new WeakMap<object, string>();
export const problemCodeOf = (reply: FastifyReply): string | undefined => answeredCodes.get(reply.raw);

export function sendProblem(reply: FastifyReply, p: Problem, headers: Record<string, string> = {}): FastifyReply {
  answeredCodes.set(reply.raw, p.code);
  if (p.status === 401 && reply.getHeader('www-authenticate') === undefined) reply.header('www-authenticate', bearerChallenge(p.code));
  for (const [k, v] of Object.entries(headers)) reply.header(k, v);
  // Every validation problem names what was wrong, even when it is the body as a whole.
  const body = p.code === 'validation_failed' && (p.errors === undefined || p.errors.length === 0)
    ? { ...p, errors: [{ path: '/', message: p.detail }] }
    : p;
  return reply.code(p.status).type('application/problem+json').send(body);
}

const FASTIFY_CODES: Record<string, ProblemCode> = {
  FST_ERR_CTP_INVALID_MEDIA_TYPE: 'unsupported_media_type',
  FST_ERR_CTP_BODY_TOO_LARGE: 'payload_too_large',
  FST_ERR_CTP_INVALID_JSON_BODY: 'validation_failed',
  FST_ERR_CTP_EMPTY_JSON_BODY: 'validation_failed',
  FST_ERR_CTP_INVALID_CONTENT_LENGTH: 'validation_failed',
  FST_ERR_CTP_EMPTY_TYPE: 'unsupported_media_type',
  FST_ERR_CTP_INVALID_TYPE: 'unsupported_media_type',
  FST_ERR_VALIDATION: 'validation_failed',
  FST_JWT_NO_AUTHORIZATION_IN_HEADER: 'unauthorized',
  FST_JWT_AUTHORIZATION_TOKEN_EXPIRED: 'invalid_token',
  FST_JWT_AUTHORIZATION_TOKEN_INVALID: 'invalid_token',
  FST_JWT_AUTHORIZATION_TOKEN_UNTRUSTED: 'invalid_token',
  FST_JWT_AUTHORIZATION_TOKEN_UNSIGNED: 'invalid_token',
  FST_JWT_BAD_REQUEST: 'unauthorized',
  FST_JWT_BAD_COOKIE_REQUEST: 'unauthorized',
  FST_ERR_RATE_LIMIT: 'rate_limited',
};

/** Details for client errors raised by Fastify itself (its own messages are terse). */
const FASTIFY_DETAILS: Record<string, string> = {
  FST_ERR_CTP_INVALID_JSON_BODY: 'the body is not valid JSON',
  FST_ERR_CTP_EMPTY_JSON_BODY: 'the body is not valid JSON',
  FST_ERR_CTP_INVALID_CONTENT_LENGTH: 'the Content-Length header does not match the body',
  FST_ERR_CTP_BODY_TOO_LARGE: 'the body is larger than 64 KiB',
  FST_ERR_CTP_INVALID_MEDIA_TYPE: 'request bodies must be application/json',
  FST_ERR_CTP_EMPTY_TYPE: 'request bodies must be application/json',
  FST_ERR_CTP_INVALID_TYPE: 'request bodies must be application/json',
};

/** Turns any thrown value into a problem (and headers); logs what is not the client's fault. */
export function toProblem(error: unknown, request: FastifyRequest): { problem: Problem; headers: Record<string, string> } {
  if (error instanceof HttpProblem) return { problem: problem(error.code, error.message, error.extensions), headers: error.headers };
  if (error instanceof ValidationError) {
    return { problem: problem('validation_failed', error.message, { errors: [{ path: error.path, message: error.message }] }), headers: {} };
  }
  if (isDomainError(error)) {
    const headers: Record<string, string> = {};
    const retry = (error as { retryAfterSeconds?: number }).retryAfterSeconds;
    if (retry !== undefined) headers['retry-after'] = String(retry);
    return { problem: problem(error.code, error.message), headers };
  }
  if (isConcurrencyConflict(error)) return { problem: problem('conflict', 'the resource was changed concurrently; try again'), headers: {} };
  if (isStoreUnavailable(error)) {
    request.log.warn({ err: { message: error.message } }, 'backing store unavailable');
    return { problem: problem('unavailable', 'a backing store is unavailable; try again shortly'), headers: { 'retry-after': '1' } };
  }
  const fe = error as FastifyError;
  if (fe && typeof fe === 'object' && fe.validation) {
    const errors = fieldErrorsOf(fe.validation as AjvError[]);
    return { problem: problem('validation_failed', summary(errors), { errors }), headers: {} };
  }
  const mapped = fe && typeof fe.code === 'string' ? FASTIFY_CODES[fe.code] : undefined;
  if (mapped) {
    return { problem: problem(mapped, FASTIFY_DETAILS[fe.code] ?? fe.message), headers: {} };
  }
  if (fe && typeof fe.statusCode === 'number' && fe.statusCode >= 400 && fe.statusCode < 500) {
    const code: ProblemCode = fe.statusCode === 404 ? 'not_found' : fe.statusCode === 413 ? 'payload_too_large'
      : fe.statusCode === 415 ? 'unsupported_media_type' : fe.statusCode === 401 ? 'unauthorized'
      : fe.statusCode === 403 ? 'forbidden' : fe.statusCode === 429 ? 'rate_limited' : 'validation_failed';
    return { problem: problem(code, fe.message), headers: {} };
  }
  request.log.error({ err: error }, 'unhandled error');
  return { problem: problem('internal_error', 'something went wrong on our side'), headers: {} };
}

export function installErrorHandling(app: FastifyInstance): void {
  app.setErrorHandler((error, request, reply) => {
    const { problem: p, headers } = toProblem(error, request);
    return sendProblem(reply, { ...p, instance: request.url.split('?')[0] }, headers);
  });
}
