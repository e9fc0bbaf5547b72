/** /v1/auth/*: register, login, refresh, logout, logout-all. Each route maps schema → command → response. */
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { Type } from '@sinclair/typebox';
import { issueTokens, toIdentifier, type LoginIdentifier } from '../../commands/issueTokens.js';
import { logoutAll, logoutByRefreshToken, logoutSession } from '../../commands/logout.js';
import { registerUser } from '../../commands/registerUser.js';
import { ValidationError } from '../../domain/errors.js';
import type { Runtime } from '../../composition/runtime.js';
import { credentialsLimit, registrationsLimit } from '../plugins/rateLimits.js';
import { eventContext } from '../context.js';
import { HttpProblem } from '../problem.js';
import { errorResponses, LoginBody, LogoutBody, RefreshBody, RegisterBody, TokenResponse } from '../schemas/common.js';
import { tokenResponse } from '../views.js';
import { isMfaRequired } from '../../commands/mfa/signIn.js';
import { MfaRequiredProblem } from '../schemas/mfa.js';
import { mfaRequiredProblem } from './mfaSignIn.js';

export const authRoutes: FastifyPluginAsyncTypebox<{ runtime: Runtime }> = async (app, { runtime }) => {
  const { deps, config } = runtime;
  const caughtUp = (position: bigint | null) => runtime.readYourWrites(position);

  app.post('/register', {
    config: { rateLimit: registrationsLimit(config, { errorResponseBuilder: () => new HttpProblem('rate_limited', 'too many registrations from this address; try again later') }) },
    schema: {
      tags: ['auth'], summary: 'Create an account and start a session',
      body: RegisterBody,
      response: { 201: TokenResponse, ...errorResponses(400, 409, 413, 415, 429, 503) },
    },
  }, async (request, reply) => {
    const b = request.body;
    if (b.email === undefined && b.phone === undefined) throw new ValidationError('/email', 'an email or a phone number is required');
    const ctx = eventContext(request, null);
    const issued = await registerUser(deps, {
      email: b.email, phone: b.phone, password: b.password, firstName: b.first_name, lastName: b.last_name,
    }, ctx);
    await caughtUp(issued.position);
    reply.header('cache-control', 'no-store');
    return reply.code(201).send(tokenResponse(app, issued, ctx.now));
  });

  app.post('/login', {
    config: {
      rateLimit: credentialsLimit(config, { errorResponseBuilder: () => new HttpProblem('rate_limited', 'too many attempts from this address; try again later') }),
    },
    schema: {
      tags: ['auth'], summary: 'Log in with an email or phone number and a password',
      description: 'A user with a second factor gets 403 `mfa_required` with `mfa_ticket`, `expires_in`, `mfa_methods` and, when '
        + 'they have passkeys, `webauthn` (assertion options); no session starts until POST /v1/auth/login/mfa redeems the ticket.',
      body: LoginBody,
      response: {
        200: TokenResponse,
        ...errorResponses(400, 401, 413, 415, 429, 503),
        403: {
          description: 'mfa_required (with the ticket), account_disabled or identifier_unverified',
          content: { 'application/problem+json': { schema: MfaRequiredProblem } },
        },
      },
    },
  }, async (request, reply) => {
    const { password, ...ids } = request.body;
    const given = Object.entries(ids).filter(([, v]) => v !== undefined);
    if (given.length !== 1) throw new ValidationError('/identifier', 'give exactly one of email, phone or identifier');
    const ctx = eventContext(request, null);
    const issued = await issueTokens(deps, { identifier: toIdentifier(ids as LoginIdentifier, deps.phoneRegion), password }, ctx);
    if (isMfaRequired(issued)) {
      await caughtUp(issued.position);
      throw mfaRequiredProblem(issued);
    }
    await caughtUp(issued.position);
    reply.header('cache-control', 'no-store');
    return tokenResponse(app, issued, ctx.now);
  });

  app.post('/refresh', {
    schema: {
      tags: ['auth'], summary: 'Exchange a refresh token for new tokens (rotation)',
      body: RefreshBody,
      response: { 200: TokenResponse, ...errorResponses(400, 401, 413, 415, 503) },
    },
  }, async (request, reply) => {
    const now = new Date();
    const issued = await app.rotateRefreshToken(request, request.body.refresh_token);
    await caughtUp(issued.position);
    reply.header('cache-control', 'no-store');
    return tokenResponse(app, issued, now);
  });

  // The body is optional: no body (or an empty one) validates as {}.
  const noBodyIsEmpty = async (request: { body: unknown }) => {
    if (request.body === undefined || request.body === null) request.body = {};
  };

  app.post('/logout', {
    preValidation: noBodyIsEmpty,
    schema: {
      tags: ['auth'],
      summary: 'End one session: the refresh token\'s, or else the bearer token\'s',
      description: 'With `refresh_token`, ends its session (204 also for an unknown or already revoked token; '
        + 'any Authorization header is ignored). Without it, ends the session of the Bearer token (401 if it is not valid).',
      body: Type.Optional(LogoutBody),
      response: { 204: Type.Null(), ...errorResponses(400, 401, 413, 415, 503) },
    },
  }, async (request, reply) => {
    const refreshToken = request.body?.refresh_token;
    if (refreshToken !== undefined) {
      const ctx = eventContext(request, null);
      await caughtUp(await logoutByRefreshToken(deps, refreshToken, ctx));
      return reply.code(204).send(null);
    }
    await app.authenticate(request, reply);
    const auth = request.auth;
    if (!auth) throw new HttpProblem('unauthorized', 'a refresh_token or a Bearer token is required');
    await caughtUp(await logoutSession(deps, auth.sessionId, eventContext(request)));
    return reply.code(204).send(null);
  });

  app.post('/logout-all', {
    preValidation: noBodyIsEmpty,
    preHandler: app.authenticate,
    schema: {
      tags: ['auth'], summary: 'End every session of the user',
      security: [{ bearer: [] }],
      body: Type.Optional(Type.Object({}, { additionalProperties: false })),
      response: { 204: Type.Null(), ...errorResponses(400, 401, 413, 415, 503) },
    },
  }, async (request, reply) => {
    const auth = request.auth;
    if (!auth) throw new HttpProblem('unauthorized', 'a Bearer token is required');
    await caughtUp(await logoutAll(deps, auth.userId, eventContext(request)));
    return reply.code(204).send(null);
  });
};
