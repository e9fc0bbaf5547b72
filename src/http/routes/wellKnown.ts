/** /.well-known/jwks.json: the public keys that verify access tokens (current and previous). */
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { Type } from '@sinclair/typebox';
import type { Runtime } from '../../runtime.js';

const Jwk = Type.Object({
  kty: Type.String(), crv: Type.String(), x: Type.String(), kid: Type.String(), alg: Type.String(), use: Type.String(),
});

export const wellKnownRoutes: FastifyPluginAsyncTypebox<{ runtime: Runtime }> = async (app, { runtime }) => {
  app.get('/jwks.json', {
    schema: { tags: ['discovery'], summary: 'JSON Web Key Set', response: { 200: Type.Object({ keys: Type.Array(Jwk) }) } },
  }, async (_request, reply) => {
    reply.header('cache-control', 'public, max-age=60');
    return runtime.signingKeys.jwks();
  });
};
