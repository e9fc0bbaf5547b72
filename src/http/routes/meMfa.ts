/**
 * /v1/me/mfa: the signed-in user's second factors. Starting an enrolment and new recovery
 * codes need the password again (a fresh check, under the login throttle); secrets are
 * shown once, in the answer that made them, and never listed.
 */
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { Type } from '@sinclair/typebox';
import { confirmTotp, startTotp } from '../../commands/mfa/enrolTotp.js';
import { mfaSummary, oneProof, regenerateRecoveryCodes, removeFactor } from '../../commands/mfa/factors.js';
import { passkeyRegistrationOptions, registerPasskey } from '../../commands/mfa/registerPasskey.js';
import { ValidationError } from '../../domain/errors.js';
import type { Runtime } from '../../composition/runtime.js';
import { credentialsLimit } from '../plugins/rateLimits.js';
import { eventContext } from '../context.js';
import { pathId } from '../pathIds.js';
import { HttpProblem } from '../problem.js';
import { errorResponses } from '../schemas/common.js';
import {
  AddedFactor, ConfirmTotpBody, FactorList, FactorParams, PasskeyBody, PasswordBody, RecoveryCodes, RemoveFactorBody,
  StartedTotp, StartTotpBody, WebAuthnOptions,
} from '../schemas/mfa.js';
import { factorListView, factorView } from '../mfaViews.js';


/** A label as stored: trimmed, at most 64 characters, no control characters; `fallback` when empty. */
export function labelOf(raw: string | undefined, fallback: string): string {
  const label = (raw ?? '').trim();
  if (label.length > 64) throw new ValidationError('/label', 'at most 64 characters');
  // eslint-disable-next-line no-control-regex -- refusing control characters is the point
  if (/[\u0000-\u001f\u007f\u202a-\u202e\u2066-\u2069]/.test(label)) throw new ValidationError('/label', 'control characters are not allowed');
  return label || fallback;
}

export const meMfaRoutes: FastifyPluginAsyncTypebox<{ runtime: Runtime }> = async (app, { runtime }) => {
  const { deps, config } = runtime;
  // Every write waits for the read models (the activity feed) before answering, as the others do.
  const caughtUp = (position: bigint | null) => runtime.readYourWrites(position);
  const tags = ['mfa'];
  const security = [{ bearer: [] }];
  const limited = { rateLimit: credentialsLimit(config, { errorResponseBuilder: () => new HttpProblem('rate_limited', 'too many attempts from this address; try again later') }) };
  app.addHook('preHandler', app.authenticate);
  const who = (request: { auth: { userId: string } | null }): string => {
    if (!request.auth) throw new HttpProblem('unauthorized', 'a Bearer token is required');
    return request.auth.userId;
  };
  const factorId = (id: string): string => pathId(id, 'factor');

  app.get('/', {
    schema: { tags, security, summary: 'The user\'s second factors and how many recovery codes are left', response: { 200: FactorList, ...errorResponses(401, 503) } },
  }, async (request) => factorListView(await mfaSummary(deps, who(request))));

  app.post('/totp', {
    config: limited,
    schema: {
      tags, security, summary: 'Start a TOTP enrolment (the password again): the secret, its otpauth URI and QR code',
      description: 'The factor counts once POST /v1/me/mfa/totp/{id}/confirm gets a first code from the app (within ten minutes).',
      body: StartTotpBody,
      response: { 201: StartedTotp, ...errorResponses(400, 401, 409, 413, 415, 429, 503) },
    },
  }, async (request, reply) => {
    const started = await startTotp(deps, who(request), { password: request.body.password, label: labelOf(request.body.label, 'Authenticator app') }, eventContext(request));
    await caughtUp(started.position);
    return reply.code(201).send({
      factor_id: started.factorId, secret: started.secret, otpauth_uri: started.uri, qr_code: started.qrCode,
      expires_at: started.expiresAt.toISOString(),
    });
  });

  app.post('/totp/:id/confirm', {
    schema: {
      tags, security, summary: 'Confirm a TOTP enrolment with a first code; the first factor comes with ten recovery codes',
      params: FactorParams, body: ConfirmTotpBody,
      response: { 201: AddedFactor, ...errorResponses(400, 401, 404, 409, 413, 415, 503) },
    },
  }, async (request, reply) => {
    const r = await confirmTotp(deps, who(request), { factorId: factorId(request.params.id), code: request.body.code }, eventContext(request));
    await caughtUp(r.position);
    return reply.code(201).send({ factor: factorView(r.factor), recovery_codes: r.recoveryCodes });
  });

  app.post('/webauthn/options', {
    config: limited,
    schema: {
      tags, security, summary: 'Options to register a passkey (the password again), for navigator.credentials.create()',
      body: PasswordBody,
      response: { 200: WebAuthnOptions, ...errorResponses(400, 401, 413, 415, 429, 503) },
    },
  }, async (request) => ({ webauthn: await passkeyRegistrationOptions(deps, who(request), request.body.password, eventContext(request)) }));

  app.post('/webauthn', {
    schema: {
      tags, security, summary: 'Register a passkey: the credential the browser created with those options',
      body: PasskeyBody,
      response: { 201: AddedFactor, ...errorResponses(400, 401, 409, 413, 415, 503) },
    },
  }, async (request, reply) => {
    const r = await registerPasskey(deps, who(request), { response: request.body.webauthn, label: labelOf(request.body.label, 'Passkey') }, eventContext(request));
    await caughtUp(r.position);
    return reply.code(201).send({ factor: factorView(r.factor), recovery_codes: r.recoveryCodes });
  });

  app.delete('/factors/:id', {
    config: limited,
    preValidation: async (request) => {
      if (request.body === undefined || request.body === null) request.body = {};
    },
    schema: {
      tags, security, summary: 'Remove a factor; the last one needs the password, a code or a recovery code',
      params: FactorParams, body: Type.Optional(RemoveFactorBody),
      response: { 204: Type.Null(), ...errorResponses(400, 401, 404, 413, 415, 429, 503) },
    },
  }, async (request, reply) => {
    await caughtUp(await removeFactor(deps, who(request), factorId(request.params.id), oneProof(request.body ?? {}), eventContext(request)));
    return reply.code(204).send(null);
  });

  app.post('/recovery-codes', {
    config: limited,
    schema: {
      tags, security, summary: 'Ten new recovery codes (the password again); the old ones stop working',
      body: PasswordBody,
      response: { 201: RecoveryCodes, ...errorResponses(400, 401, 409, 413, 415, 429, 503) },
    },
  }, async (request, reply) => {
    const { codes, position } = await regenerateRecoveryCodes(deps, who(request), request.body.password, eventContext(request));
    await caughtUp(position);
    return reply.code(201).send({ recovery_codes: codes });
  });
};
