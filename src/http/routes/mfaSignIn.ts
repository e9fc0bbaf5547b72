/**
 * /v1/auth: the second step of a sign-in with a second factor, and passkey sign-in.
 * POST /login answers 403 `mfa_required` with a single-use ticket when the user has a
 * factor; POST /login/mfa redeems it with one factor and returns the token response.
 */
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { Type } from '@sinclair/typebox';
import { completeSignIn, passkeySignIn, passkeySignInOptions, type MfaRequired } from '../../commands/mfa/signIn.js';
import type { SecondFactorProof } from '../../commands/mfa/verify.js';
import { ValidationError } from '../../domain/errors.js';
import type { Runtime } from '../../composition/runtime.js';
import { credentialsLimit } from '../plugins/rateLimits.js';
import { eventContext } from '../context.js';
import { HttpProblem } from '../problem.js';
import { errorResponses, TokenResponse } from '../schemas/common.js';
import { MfaLoginBody, PasskeyLoginBody, WebAuthnOptions } from '../schemas/mfa.js';
import { tokenResponse } from '../views.js';

/** The 403 a password sign-in gets when a second factor is due. */
export const mfaRequiredProblem = (m: MfaRequired): HttpProblem => new HttpProblem(
  'mfa_required', 'the password was right; finish signing in with a second factor at POST /v1/auth/login/mfa', { 'cache-control': 'no-store' },
  { mfa_ticket: m.ticket, expires_in: m.expiresIn, mfa_methods: m.methods, webauthn: m.webauthn },
);

/** Exactly one second factor of a body (400 otherwise). */
export function proofOf(b: { code?: string | undefined; recovery_code?: string | undefined; webauthn?: unknown }): SecondFactorProof {
  const given = [b.code, b.recovery_code, b.webauthn].filter((v) => v !== undefined).length;
  if (given !== 1) throw new ValidationError('/code', 'give exactly one of code, recovery_code and webauthn');
  if (b.code !== undefined) return { code: b.code };
  if (b.recovery_code !== undefined) return { recoveryCode: b.recovery_code };
  return { webauthn: b.webauthn };
}

export const mfaSignInRoutes: FastifyPluginAsyncTypebox<{ runtime: Runtime }> = async (app, { runtime }) => {
  const { deps, config } = runtime;
  const limited = { rateLimit: credentialsLimit(config, { errorResponseBuilder: () => new HttpProblem('rate_limited', 'too many attempts from this address; try again later') }) };

  app.post('/login/mfa', {
    config: limited,
    schema: {
      tags: ['auth'], summary: 'Finish a sign-in with a second factor: the ticket from 403 mfa_required and one factor',
      description: 'A TOTP code (one step of clock drift either way; each code once), a recovery code (each once) or a WebAuthn '
        + 'assertion over the `webauthn` options of the 403. Wrong factors count against the account\'s throttle '
        + '(LOGIN_MAX_FAILURES in LOGIN_FAILURE_WINDOW_SECONDS: then 429). 400 invalid_code: the factor did not verify (the '
        + 'ticket stays good); 401 invalid_token: the ticket is unknown, expired or used (sign in again).',
      body: MfaLoginBody,
      response: { 200: TokenResponse, ...errorResponses(400, 401, 403, 413, 415, 429, 503) },
    },
  }, async (request, reply) => {
    const ctx = eventContext(request, null);
    const issued = await completeSignIn(deps, request.body.mfa_ticket, proofOf(request.body), ctx);
    await runtime.readYourWrites(issued.position);
    reply.header('cache-control', 'no-store');
    return tokenResponse(app, issued, ctx.now);
  });

  app.post('/passkey/options', {
    config: limited,
    schema: {
      tags: ['auth'], summary: 'Options for signing in with a passkey (navigator.credentials.get)',
      description: 'Any discoverable credential of this relying party; user verification required. The challenge is good for five minutes, once.',
      body: Type.Optional(Type.Object({}, { additionalProperties: false })),
      response: { 200: WebAuthnOptions, ...errorResponses(400, 413, 415, 429, 503) },
    },
  }, async (_request, reply) => {
    reply.header('cache-control', 'no-store');
    return { webauthn: await passkeySignInOptions(deps, new Date()) };
  });

  app.post('/passkey', {
    config: limited,
    schema: {
      tags: ['auth'], summary: 'Sign in with a passkey: the assertion over /passkey/options\' challenge',
      description: 'Starts a session with `amr: ["hwk"]`. 401 invalid_credentials for anything that is not a valid assertion of a registered passkey.',
      body: PasskeyLoginBody,
      response: { 200: TokenResponse, ...errorResponses(400, 401, 403, 413, 415, 429, 503) },
    },
  }, async (request, reply) => {
    const ctx = eventContext(request, null);
    const issued = await passkeySignIn(deps, request.body.webauthn, ctx);
    await runtime.readYourWrites(issued.position);
    reply.header('cache-control', 'no-store');
    return tokenResponse(app, issued, ctx.now);
  });
};
