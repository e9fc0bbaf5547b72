/**
 * /oauth/*: the standards face of the service, for OAuth 2.0 clients and resource servers.
 * - POST /oauth/token (RFC 6749): grant_type=password (the same command as /v1/auth/login:
 *   same throttling, same LoginFailed events) and grant_type=refresh_token (the same
 *   rotation and reuse detection as /v1/auth/refresh, through app.rotateRefreshToken).
 * - POST /oauth/revoke (RFC 7009): refresh or access token; either revokes its session.
 * - POST /oauth/introspect (RFC 7662): for callers whose Bearer token has the role admin
 *   or service.
 *
 * Bodies are form-encoded (the parser is registered in this plugin only) or JSON. Unknown
 * parameters are ignored, a parameter given twice is invalid_request, an empty one counts
 * as missing (RFC 6749 §3.2). Every error here is RFC 6749 §5.2 `{ error, error_description }`,
 * not problem+json: this plugin has its own error and not-found handlers. Every answer
 * carries `Cache-Control: no-store` and `Pragma: no-cache`.
 */
import formbody from '@fastify/formbody';
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { Type } from '@sinclair/typebox';
import type { FastifyError, FastifyReply, FastifyRequest } from 'fastify';
import { SessionAggregate } from '../../../domain/session/session.js';
import { UserAggregate } from '../../../domain/user/user.js';
import { load } from '../../../commands/load.js';
import { issueTokens } from '../../../commands/issueTokens.js';
import { logoutByRefreshToken, logoutSession } from '../../../commands/logout.js';
import {
  AccountDisabledError, InvalidCredentialsError, InvalidTokenError, isDomainError, RateLimitedError, TokenReusedError, ValidationError,
} from '../../../domain/errors.js';
import { sessionStream, userStream } from '../../../domain/events.js';
import { userAllowsSession } from '../../../domain/user/user.js';
import { isConcurrencyConflict, isStoreUnavailable } from '../../../ports/eventStore.js';
import { sameHash } from '../../../infra/secrets.js';
import { normaliseIdentifier } from '../../../policy/identifiers.js';
import type { Runtime } from '../../../composition/runtime.js';
import type { AccessClaims } from '../../plugins/auth.js';
import { eventContext } from '../../context.js';

/** RFC 6749 §5.2, RFC 6750 §3.1 and RFC 8414 error codes used here. */
export type OAuthErrorCode =
  | 'invalid_request'
  | 'invalid_grant'
  | 'unsupported_grant_type'
  | 'invalid_token'
  | 'insufficient_scope'
  | 'temporarily_unavailable'
  | 'server_error';

export class OAuthError extends Error {
  readonly status: number;
  readonly error: OAuthErrorCode;
  readonly headers: Record<string, string>;
  constructor(status: number, error: OAuthErrorCode, description: string, headers: Record<string, string> = {}) {
    super(description);
    this.name = 'OAuthError';
    this.status = status;
    this.error = error;
    this.headers = headers;
  }
}

const invalidRequest = (description: string) => new OAuthError(400, 'invalid_request', description);
const invalidGrant = (description: string) => new OAuthError(400, 'invalid_grant', description);

const REALM = 'Bearer realm="authstream"';
const JWT_SHAPE = /^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+$/;
const PASSWORD_MAX = 10_000;

// --- schemas (documentation and response serialisation; request bodies are checked by hand)

const OAuthErrorBody = Type.Object({
  error: Type.String({ description: 'RFC 6749 §5.2 error code' }),
  error_description: Type.Optional(Type.String()),
}, { description: 'RFC 6749 §5.2 error response' });

const errors = (...statuses: number[]) => Object.fromEntries(statuses.map((s) => [s, OAuthErrorBody]));

const BODY_TYPES = ['application/x-www-form-urlencoded', 'application/json'];

const TokenRequest = Type.Object({
  grant_type: Type.String({ description: '`password` or `refresh_token`' }),
  username: Type.Optional(Type.String({ description: 'password grant: an email or a phone number' })),
  password: Type.Optional(Type.String({ description: 'password grant' })),
  refresh_token: Type.Optional(Type.String({ description: 'refresh_token grant' })),
  scope: Type.Optional(Type.String({ description: 'accepted and ignored: the service has no scopes' })),
  client_id: Type.Optional(Type.String({ description: 'accepted and ignored: public clients only' })),
}, { additionalProperties: true });

const TokenResponse = Type.Object({
  access_token: Type.String(),
  token_type: Type.Literal('Bearer'),
  expires_in: Type.Integer(),
  refresh_token: Type.String(),
  scope: Type.Optional(Type.String()),
}, { description: 'RFC 6749 §5.1 access token response' });

const TokenBody = Type.Object({
  token: Type.String(),
  token_type_hint: Type.Optional(Type.String({ description: '`access_token` or `refresh_token`; optional, tokens are told apart by shape' })),
  client_id: Type.Optional(Type.String()),
}, { additionalProperties: true });

const IntrospectionResponse = Type.Object({
  active: Type.Boolean(),
  token_type: Type.Optional(Type.Union([Type.Literal('access_token'), Type.Literal('refresh_token')])),
  sub: Type.Optional(Type.String()),
  sid: Type.Optional(Type.String()),
  iat: Type.Optional(Type.Integer()),
  exp: Type.Optional(Type.Integer()),
  iss: Type.Optional(Type.String()),
  aud: Type.Optional(Type.String()),
  jti: Type.Optional(Type.String()),
  roles: Type.Optional(Type.Array(Type.String())),
  scope: Type.Optional(Type.String()),
}, { description: 'RFC 7662 §2.2; only `active` when the token is not active' });
type IntrospectionResponseT = {
  active: boolean;
  token_type?: 'access_token' | 'refresh_token';
  sub?: string; sid?: string; iat?: number; exp?: number; iss?: string; aud?: string; jti?: string; roles?: string[];
};

// --- parameters

type Params = Readonly<Record<string, unknown>>;

function paramsOf(body: unknown): Params {
  if (body === undefined || body === null) return {};
  if (typeof body !== 'object' || Array.isArray(body)) {
    throw invalidRequest('the body must be application/x-www-form-urlencoded parameters or a JSON object');
  }
  return body as Params;
}

/** A parameter's value: undefined when absent or empty; invalid_request when repeated or not a string. */
function param(p: Params, name: string): string | undefined {
  if (!Object.hasOwn(p, name)) return undefined;
  const value = p[name];
  if (value === undefined || value === null) return undefined;
  if (Array.isArray(value)) throw invalidRequest(`the parameter ${name} is given more than once`);
  if (typeof value !== 'string') throw invalidRequest(`the parameter ${name} must be a string`);
  return value === '' ? undefined : value;
}

function required(p: Params, name: string): string {
  const value = param(p, name);
  if (value === undefined) throw invalidRequest(`the parameter ${name} is required`);
  return value;
}

// --- errors

const FASTIFY_ERRORS: Record<string, { status: number; description: string }> = {
  FST_ERR_CTP_INVALID_MEDIA_TYPE: { status: 415, description: 'send application/x-www-form-urlencoded or application/json' },
  FST_ERR_CTP_EMPTY_TYPE: { status: 415, description: 'send application/x-www-form-urlencoded or application/json' },
  FST_ERR_CTP_INVALID_TYPE: { status: 415, description: 'send application/x-www-form-urlencoded or application/json' },
  FST_ERR_CTP_BODY_TOO_LARGE: { status: 413, description: 'the body is too large' },
  FST_ERR_CTP_INVALID_JSON_BODY: { status: 400, description: 'the body is not valid JSON' },
  FST_ERR_CTP_EMPTY_JSON_BODY: { status: 400, description: 'the JSON body is empty' },
  FST_ERR_CTP_INVALID_CONTENT_LENGTH: { status: 400, description: 'the Content-Length does not match the body' },
  FST_ERR_VALIDATION: { status: 400, description: 'invalid request' },
};

/** Any error thrown under /oauth → an RFC 6749 §5.2 error; never a 5xx for the client's input. */
export function toOAuthError(error: unknown, request: FastifyRequest): OAuthError {
  if (error instanceof OAuthError) return error;
  if (error instanceof RateLimitedError) {
    return new OAuthError(429, 'invalid_grant', error.message, { 'retry-after': String(error.retryAfterSeconds) });
  }
  if (error instanceof InvalidCredentialsError) return invalidGrant('invalid username or password');
  if (error instanceof AccountDisabledError) return invalidGrant(error.message);
  if (error instanceof TokenReusedError) return invalidGrant(error.message);
  if (error instanceof InvalidTokenError) return invalidGrant(error.message);
  if (error instanceof ValidationError) return invalidRequest(error.message);
  if (isConcurrencyConflict(error)) return invalidRequest('the resource was changed concurrently; try again');
  if (isDomainError(error)) return invalidRequest(error.message);
  if (isStoreUnavailable(error)) {
    request.log.warn({ err: { message: error.message } }, 'backing store unavailable');
    return new OAuthError(503, 'temporarily_unavailable', 'a backing store is unavailable; try again shortly', { 'retry-after': '1' });
  }
  const fe = error as Partial<FastifyError> | null;
  const known = fe && typeof fe.code === 'string' ? FASTIFY_ERRORS[fe.code] : undefined;
  if (known) return new OAuthError(known.status, 'invalid_request', known.description);
  if (fe && typeof fe.statusCode === 'number' && fe.statusCode >= 400 && fe.statusCode < 500) {
    return new OAuthError(fe.statusCode, 'invalid_request', typeof fe.message === 'string' ? fe.message : 'invalid request');
  }
  request.log.error({ err: error }, 'unhandled error');
  return new OAuthError(500, 'server_error', 'something went wrong on our side');
}

function sendOAuthError(reply: FastifyReply, e: OAuthError): FastifyReply {
  for (const [k, v] of Object.entries(e.headers)) reply.header(k, v);
  return reply.code(e.status).type('application/json; charset=utf-8').send({ error: e.error, error_description: e.message });
}

const seconds = (d: Date): number => Math.floor(d.getTime() / 1000);

// --- routes

export const oauthRoutes: FastifyPluginAsyncTypebox<{ runtime: Runtime }> = async (app, { runtime }) => {
  const { deps, config } = runtime;
  const caughtUp = (position: bigint | null) => runtime.readYourWrites(position);

  // Form bodies for /oauth/* only (this plugin is encapsulated; formbody's parser lands here).
  await app.register(formbody);
  // Parameters are checked by hand (RFC 6749 rules, not JSON Schema); schemas are for the docs.
  app.setValidatorCompiler(() => () => true);

  app.setErrorHandler((error, request, reply) => sendOAuthError(reply, toOAuthError(error, request)));

  const methods = new Map<string, string[]>();
  app.addHook('onRoute', (route) => {
    const list = methods.get(route.url) ?? [];
    list.push(...(Array.isArray(route.method) ? route.method : [route.method]));
    methods.set(route.url, list);
  });
  app.setNotFoundHandler((request, reply) => {
    const path = (request.url.split('?')[0] ?? '/').replace(/\/+$/, '');
    const allowed = methods.get(path);
    if (allowed) {
      reply.header('allow', [...new Set(allowed)].join(', '));
      return sendOAuthError(reply, new OAuthError(405, 'invalid_request', `${request.method} is not allowed here`));
    }
    return sendOAuthError(reply, new OAuthError(404, 'invalid_request', `no endpoint ${path}`));
  });

  app.addHook('onSend', async (_request, reply, payload) => {
    reply.header('cache-control', 'no-store');
    reply.header('pragma', 'no-cache');
    return payload;
  });

  app.post('/token', {
    config: {
      // Per client IP, like /v1/auth/login (its own budget): only password grants count.
      rateLimit: {
        max: config.loginRatePerIpPerMinute,
        timeWindow: 60_000,
        hook: 'preHandler',
        allowList: (request) => {
          const body = request.body;
          return !(typeof body === 'object' && body !== null && (body as Record<string, unknown>).grant_type === 'password');
        },
        errorResponseBuilder: (_request, ctx) => new OAuthError(429, 'invalid_grant',
          'too many login attempts from this address; try again later',
          { 'retry-after': String(Math.max(1, Math.ceil(ctx.ttl / 1000))) }),
      },
    },
    schema: {
      tags: ['oauth'],
      summary: 'RFC 6749 token endpoint: password and refresh_token grants',
      consumes: BODY_TYPES,
      body: TokenRequest,
      response: { 200: TokenResponse, ...errors(400, 413, 415, 429, 503) },
    },
  }, async (request) => {
    const p = paramsOf(request.body);
    const grantType = param(p, 'grant_type');
    param(p, 'client_id'); // always accepted; public clients, nothing to check
    param(p, 'scope'); // no scopes: ignored, and no scope in the answer
    if (grantType === undefined) throw invalidRequest('the parameter grant_type is required');

    let issued;
    if (grantType === 'password') {
      const username = required(p, 'username');
      const password = required(p, 'password');
      if (password.length > PASSWORD_MAX) throw invalidRequest('the parameter password is too long');
      let identifier;
      try {
        identifier = normaliseIdentifier(username, '/username');
      } catch (e) {
        // Not an email or a phone number: no account can match it.
        if (e instanceof ValidationError) throw invalidGrant('invalid username or password');
        throw e;
      }
      issued = await issueTokens(deps, { identifier, password }, eventContext(request, null));
      await caughtUp(issued.position);
    } else if (grantType === 'refresh_token') {
      // The same path as /v1/auth/refresh: rotateRefresh behind the per-instance coordinator
      // that tells a concurrent refresh of one token (a race, invalid_grant) from a replay (reuse).
      issued = await app.rotateRefreshToken(request, required(p, 'refresh_token'));
    } else {
      throw new OAuthError(400, 'unsupported_grant_type', `grant_type ${JSON.stringify(grantType.slice(0, 100))} is not supported; use password or refresh_token`);
    }
    const { token, expiresIn } = app.signAccessToken({ userId: issued.user.id, sessionId: issued.sessionId, roles: issued.user.roles });
    return { access_token: token, token_type: 'Bearer' as const, expires_in: expiresIn, refresh_token: issued.refreshToken };
  });

  app.post('/revoke', {
    schema: {
      tags: ['oauth'],
      summary: 'RFC 7009 revocation: a refresh or access token; its session ends. 200 for unknown tokens too',
      consumes: BODY_TYPES,
      body: TokenBody,
      response: errors(400, 413, 415, 503), // 200 with an empty body
    },
  }, async (request, reply) => {
    const p = paramsOf(request.body);
    const token = required(p, 'token');
    param(p, 'token_type_hint');
    param(p, 'client_id');
    const ctx = eventContext(request, null);
    if (deps.secrets.parseRefreshToken(token)) {
      await caughtUp(await logoutByRefreshToken(deps, token, ctx));
    } else if (JWT_SHAPE.test(token)) {
      let claims: AccessClaims | null = null;
      try {
        claims = await app.verifyAccessToken(token);
      } catch {
        claims = null; // invalid, expired or already revoked: nothing to do (RFC 7009 §2.2)
      }
      if (claims) await caughtUp(await logoutSession(deps, claims.sid, { ...ctx, actorId: claims.sub }));
    }
    return (reply as FastifyReply).code(200).send(); // RFC 7009: an empty 200
  });

  const requireIntrospector = async (request: FastifyRequest, reply: FastifyReply): Promise<void> => {
    try {
      await app.authenticate(request, reply);
    } catch (e) {
      if (isStoreUnavailable(e)) throw e;
      const missing = typeof request.headers.authorization !== 'string' || !/^Bearer\s/i.test(`${request.headers.authorization.trim()} `);
      throw missing
        ? new OAuthError(401, 'invalid_token', 'a Bearer token with the role admin or service is required', { 'www-authenticate': REALM })
        : new OAuthError(401, 'invalid_token', 'the Bearer token is invalid, expired or revoked',
          { 'www-authenticate': `${REALM}, error="invalid_token"` });
    }
    const roles = request.auth?.roles ?? [];
    if (!roles.includes('admin') && !roles.includes('service')) {
      throw new OAuthError(403, 'insufficient_scope', 'introspection needs the role admin or service',
        { 'www-authenticate': `${REALM}, error="insufficient_scope"` });
    }
  };

  const introspectAccess = async (token: string): Promise<IntrospectionResponseT> => {
    let claims: AccessClaims;
    try {
      claims = await app.verifyAccessToken(token); // signature, kid, iss, aud, exp, revoked session
    } catch {
      return { active: false };
    }
    return {
      active: true, token_type: 'access_token',
      sub: claims.sub, sid: claims.sid, iat: claims.iat, exp: claims.exp, iss: claims.iss, aud: claims.aud, jti: claims.jti,
      roles: Array.isArray(claims.roles) ? claims.roles : [],
    };
  };

  const introspectRefresh = async (parsed: { sessionId: string; hash: string }): Promise<IntrospectionResponseT> => {
    const { state: session } = await load(deps, sessionStream(parsed.sessionId), SessionAggregate);
    const now = new Date();
    if (session.status !== 'active' || !sameHash(session.currentHash, parsed.hash) || session.expiresAt.getTime() <= now.getTime()) {
      return { active: false };
    }
    // The same test a refresh makes: the user is active and has not cut this session off.
    const { state: user } = await load(deps, userStream(session.userId), UserAggregate);
    if (!userAllowsSession(user, session.id, session.userRevision)) return { active: false };
    return {
      active: true, token_type: 'refresh_token',
      sub: session.userId, sid: session.id, iat: seconds(session.lastUsedAt), exp: seconds(session.expiresAt), iss: config.publicUrl,
    };
  };

  app.post('/introspect', {
    preHandler: requireIntrospector,
    schema: {
      tags: ['oauth'],
      summary: 'RFC 7662 introspection of access and refresh tokens (Bearer with the role admin or service)',
      security: [{ bearer: [] }],
      consumes: BODY_TYPES,
      body: TokenBody,
      response: { 200: IntrospectionResponse, ...errors(400, 401, 403, 413, 415, 503) },
    },
  }, async (request) => {
    const p = paramsOf(request.body);
    const token = required(p, 'token');
    param(p, 'token_type_hint'); // refresh and access tokens never look alike: the hint changes nothing
    param(p, 'client_id');
    const refresh = deps.secrets.parseRefreshToken(token);
    if (refresh) return introspectRefresh(refresh);
    if (JWT_SHAPE.test(token)) return introspectAccess(token);
    return { active: false };
  });
};
