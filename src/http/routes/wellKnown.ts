/**
 * /.well-known/*:
 * - jwks.json: the public keys that verify access tokens — the current key, the next one
 *   (published ahead of the rotation that will promote it) and every retired key that may
 *   still have signed a live token (see src/infra/signingKeys/);
 * - oauth-authorization-server: RFC 8414 metadata. PUBLIC_URL is the issuer and the base
 *   of every advertised endpoint. When PUBLIC_URL has a path (https://host/auth), RFC 8414
 *   puts the document at /.well-known/oauth-authorization-server/auth: that is served too.
 */
import { MFA_GRANT } from './oauth/token.js';
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { Type, type Static } from '@sinclair/typebox';
import type { Runtime } from '../../composition/runtime.js';
import { HttpProblem } from '../problem.js';

const Jwk = Type.Object({
  kty: Type.String(), crv: Type.String(), x: Type.String(), kid: Type.String(), alg: Type.String(), use: Type.String(),
});

const Metadata = Type.Object({
  issuer: Type.String(),
  token_endpoint: Type.String(),
  jwks_uri: Type.String(),
  revocation_endpoint: Type.String(),
  introspection_endpoint: Type.String(),
  grant_types_supported: Type.Array(Type.String()),
  response_types_supported: Type.Array(Type.String()),
  token_endpoint_auth_methods_supported: Type.Array(Type.String()),
  revocation_endpoint_auth_methods_supported: Type.Array(Type.String()),
  introspection_endpoint_auth_methods_supported: Type.Array(Type.String()),
  service_documentation: Type.String(),
}, { description: 'RFC 8414 authorization server metadata' });

export function authorizationServerMetadata(publicUrl: string): Static<typeof Metadata> {
  const issuer = publicUrl.replace(/\/+$/, '');
  return {
    issuer,
    token_endpoint: `${issuer}/oauth/token`,
    jwks_uri: `${issuer}/.well-known/jwks.json`,
    revocation_endpoint: `${issuer}/oauth/revoke`,
    introspection_endpoint: `${issuer}/oauth/introspect`,
    grant_types_supported: ['password', 'refresh_token', MFA_GRANT],
    // REQUIRED by RFC 8414 §2; there is no authorization endpoint, so no response type.
    response_types_supported: [],
    // Public clients: client_id is accepted and ignored, no client authentication.
    token_endpoint_auth_methods_supported: ['none'],
    revocation_endpoint_auth_methods_supported: ['none'],
    // A Bearer access token with the role admin or service ("Bearer" is from the IANA
    // OAuth Access Token Types registry, which RFC 8414 §2 allows here).
    introspection_endpoint_auth_methods_supported: ['Bearer'],
    service_documentation: `${issuer}/docs`,
  };
}

export const wellKnownRoutes: FastifyPluginAsyncTypebox<{ runtime: Runtime }> = async (app, { runtime }) => {
  const metadata = authorizationServerMetadata(runtime.config.publicUrl);
  const issuerPath = new URL(metadata.issuer).pathname.replace(/\/+$/, '');

  app.get('/jwks.json', {
    schema: { tags: ['discovery'], summary: 'JSON Web Key Set', response: { 200: Type.Object({ keys: Type.Array(Jwk) }) } },
  }, async (_request, reply) => {
    reply.header('cache-control', 'public, max-age=60');
    return runtime.signingKeys.jwks();
  });

  app.get('/oauth-authorization-server', {
    schema: { tags: ['discovery'], summary: 'OAuth 2.0 authorization server metadata (RFC 8414)', response: { 200: Metadata } },
  }, async (_request, reply) => {
    reply.header('cache-control', 'public, max-age=300');
    return metadata;
  });

  // RFC 8414 §3.1: for an issuer with a path, the well-known segment goes before the path.
  app.get('/oauth-authorization-server/*', {
    schema: { hide: true, response: { 200: Metadata } },
  }, async (request, reply) => {
    const suffix = `/${(request.params as { '*'?: string })['*'] ?? ''}`.replace(/\/+$/, '');
    if (issuerPath === '' || suffix !== issuerPath) {
      throw new HttpProblem('not_found', `no authorization server metadata for ${suffix}`);
    }
    reply.header('cache-control', 'public, max-age=300');
    return metadata;
  });
};
