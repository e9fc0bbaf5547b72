/**
 * /v1/admin/signing-keys: the published access-token signing keys (public parts only) and
 * rotation, as `authstream keys rotate` does: the pre-published next key signs from now on,
 * on every instance (a NOTIFY), the old one keeps verifying until its tokens have expired.
 */
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import type { Runtime } from '../../../composition/runtime.js';
import { ConflictError } from '../../../domain/errors.js';
import type { PublishedKey } from '../../../infra/signingKeys/signingKeys.js';
import { RETIRED_KEY_HORIZON_SECONDS } from '../../../infra/signingKeys/signingKeys.js';
import { KeyRotation, SigningKeyList } from '../../schemas/admin.js';
import { errorResponses } from '../../schemas/common.js';

/** A key as an admin sees it: what the JWKS publishes, with its life cycle. Never the private half. */
export const keyView = (k: PublishedKey) => ({
  kid: k.kid,
  alg: k.jwk.alg,
  crv: k.jwk.crv,
  x: k.jwk.x,
  status: k.status,
  created_at: k.createdAt.toISOString(),
  activated_at: k.activatedAt?.toISOString() ?? null,
  retired_at: k.retiredAt?.toISOString() ?? null,
});

export const adminSigningKeyRoutes: FastifyPluginAsyncTypebox<{ runtime: Runtime }> = async (app, { runtime }) => {
  const security = [{ bearer: [] }];
  const tags = ['admin'];
  const keys = runtime.signingKeys;

  app.get('/signing-keys', {
    schema: {
      tags, security, summary: 'The published signing keys: current, next and recently retired (public parts only)',
      response: { 200: SigningKeyList, ...errorResponses(401, 403) },
    },
  }, async () => ({ keys: keys.published().map(keyView) }));

  app.post('/signing-keys/rotate', {
    schema: {
      tags, security,
      summary: 'Rotate: the next key signs from now on, on every instance; the old one verifies until its tokens expire',
      response: { 200: KeyRotation, ...errorResponses(401, 403, 409, 503) },
    },
  }, async (request) => {
    if (runtime.config.jwtPrivateKey !== undefined) {
      throw new ConflictError('JWT_PRIVATE_KEY is set: that key becomes current again at every start; rotate by changing JWT_PRIVATE_KEY');
    }
    const { current, previousKid, nextKid } = await keys.rotate();
    request.log.info({ kid: current.kid, previous_kid: previousKid, actor_id: request.auth?.userId ?? null }, 'signing key rotated');
    return {
      kid: current.kid, previous_kid: previousKid, next_kid: nextKid, retired_verify_seconds: RETIRED_KEY_HORIZON_SECONDS,
      keys: keys.published().map(keyView),
    };
  });
};
