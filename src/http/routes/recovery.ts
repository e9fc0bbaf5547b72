/**
 * Password reset and verification. Under /v1/auth (anonymous): forgot, reset, email/verify;
 * under /v1/me (signed in): a new email link or phone code, and the phone code's redemption.
 * A forgot request is answered alike whether or not the account exists: it only records
 * the ask; the recovery reactor does the rest after the answer.
 */
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { Type } from '@sinclair/typebox';
import { toIdentifier, type LoginIdentifier } from '../../commands/issueTokens.js';
import { askPasswordReset } from '../../commands/recovery/askPasswordReset.js';
import { resetPassword, type ResetProof } from '../../commands/recovery/resetPassword.js';
import { requestVerification, verifyEmail, verifyPhone } from '../../commands/recovery/verification.js';
import { ValidationError } from '../../domain/errors.js';
import type { Runtime } from '../../composition/runtime.js';
import { recoveryLimit } from '../plugins/rateLimits.js';
import { eventContext } from '../context.js';
import { HttpProblem } from '../problem.js';
import { errorResponses } from '../schemas/common.js';
import { Accepted, ForgotBody, ResetBody, VerifyEmailBody, VerifyPhoneBody } from '../schemas/recovery.js';

const tags = ['recovery'];
const limited = (runtime: Runtime) => ({
  rateLimit: recoveryLimit(runtime.config, { errorResponseBuilder: () => new HttpProblem('rate_limited', 'too many requests from this address; try again later') }),
});

export const recoveryRoutes: FastifyPluginAsyncTypebox<{ runtime: Runtime }> = async (app, { runtime }) => {
  const { deps } = runtime;
  const caughtUp = (position: bigint | null) => runtime.readYourWrites(position);

  app.post('/password/forgot', {
    config: limited(runtime),
    schema: {
      tags, summary: 'Ask for a password reset message (the same answer whether or not the account exists)',
      body: ForgotBody,
      response: { 202: Accepted, ...errorResponses(400, 413, 415, 429, 503) },
    },
  }, async (request, reply) => {
    const given = Object.entries(request.body).filter(([, v]) => v !== undefined);
    if (given.length !== 1) throw new ValidationError('/identifier', 'give exactly one of email, phone or identifier');
    await askPasswordReset(deps, toIdentifier(request.body as LoginIdentifier, deps.phoneRegion), eventContext(request, null));
    return reply.code(202).send({ status: 'accepted' as const });
  });

  app.post('/password/reset', {
    config: limited(runtime),
    schema: {
      tags, summary: 'Set a new password with the emailed token, or the phone number and the SMS code',
      body: ResetBody,
      response: { 204: Type.Null(), ...errorResponses(400, 413, 415, 429, 503) },
    },
  }, async (request, reply) => {
    const b = request.body;
    let proof: ResetProof;
    if (b.token !== undefined && b.phone === undefined && b.code === undefined) proof = { token: b.token };
    else if (b.token === undefined && b.phone !== undefined && b.code !== undefined) proof = { phone: b.phone, code: b.code };
    else throw new ValidationError('/token', 'give either token, or phone and code');
    await caughtUp(await resetPassword(deps, proof, b.new_password, eventContext(request, null)));
    return reply.code(204).send(null);
  });

  app.post('/email/verify', {
    config: limited(runtime),
    schema: {
      tags, summary: 'Verify an email with the token from the emailed link',
      body: VerifyEmailBody,
      response: { 204: Type.Null(), ...errorResponses(400, 413, 415, 429, 503) },
    },
  }, async (request, reply) => {
    await caughtUp(await verifyEmail(deps, request.body.token, eventContext(request, null)));
    return reply.code(204).send(null);
  });
};

export const verificationRoutes: FastifyPluginAsyncTypebox<{ runtime: Runtime }> = async (app, { runtime }) => {
  const { deps } = runtime;
  const caughtUp = (position: bigint | null) => runtime.readYourWrites(position);
  const security = [{ bearer: [] }];
  app.addHook('preHandler', app.authenticate);
  const userIdOf = (request: { auth: { userId: string } | null }): string => {
    if (!request.auth) throw new HttpProblem('unauthorized', 'a Bearer token is required');
    return request.auth.userId;
  };

  for (const kind of ['email', 'phone'] as const) {
    app.post(`/${kind}/verification`, {
      config: limited(runtime),
      schema: {
        tags, security, summary: kind === 'email' ? 'Send a new verification link to the email' : 'Send a 6-digit code to the phone by SMS',
        response: { 202: Accepted, ...errorResponses(401, 409, 429, 503) },
      },
    }, async (request, reply) => {
      await caughtUp(await requestVerification(deps, userIdOf(request), kind, eventContext(request)));
        return reply.code(202).send({ status: 'accepted' as const });
    });
  }

  app.post('/phone/verify', {
    config: limited(runtime),
    schema: {
      tags, security, summary: 'Verify the phone with the code from the SMS',
      body: VerifyPhoneBody,
      response: { 204: Type.Null(), ...errorResponses(400, 401, 413, 415, 429, 503) },
    },
  }, async (request, reply) => {
    await caughtUp(await verifyPhone(deps, userIdOf(request), request.body.code, eventContext(request)));
    return reply.code(204).send(null);
  });
};
