/** POST /oauth/introspect (RFC 7662): for callers whose Bearer token has the role admin or service. */
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import type { FastifyReply, FastifyRequest } from 'fastify';
import type { Runtime } from '../../../composition/runtime.js';
import { isStoreUnavailable } from '../../../ports/eventStore.js';
import { introspectRefreshToken } from '../../../tokens/introspection.js';
import type { AccessClaims } from '../../plugins/auth.js';
import { BODY_TYPES, IntrospectionResponse, JWT_SHAPE, TokenBody, oauthErrors, type Introspection } from '../../schemas/oauth.js';
import { BEARER_REALM, bearerChallenge } from '../../problem.js';
import { OAuthError, required } from './errors.js';


export const introspectRoute: FastifyPluginAsyncTypebox<{ runtime: Runtime }> = async (app, { runtime }) => {
  const { deps, config } = runtime;

  // onRequest: who may ask is settled before the body is looked at (401/403 before any 400).
  const requireIntrospector = async (request: FastifyRequest, reply: FastifyReply): Promise<void> => {
    try {
      await app.authenticate(request, reply);
    } catch (e) {
      if (isStoreUnavailable(e)) throw e;
      const missing = typeof request.headers.authorization !== 'string' || !/^Bearer\s/i.test(`${request.headers.authorization.trim()} `);
      throw missing
        ? new OAuthError(401, 'invalid_token', 'a Bearer token with the role admin or service is required', { 'www-authenticate': bearerChallenge('unauthorized') })
        : new OAuthError(401, 'invalid_token', 'the Bearer token is invalid, expired or revoked',
          { 'www-authenticate': bearerChallenge('invalid_token') });
    }
    const roles = request.auth?.roles ?? [];
    if (!roles.includes('admin') && !roles.includes('service')) {
      throw new OAuthError(403, 'insufficient_scope', 'introspection needs the role admin or service',
        { 'www-authenticate': `${BEARER_REALM}, error="insufficient_scope"` });
    }
  };

  const introspectAccess = async (token: string): Promise<Introspection> => {
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

  app.post('/introspect', {
    onRequest: requireIntrospector,
    schema: {
      tags: ['oauth'],
      summary: 'RFC 7662 introspection of access and refresh tokens (Bearer with the role admin or service)',
      security: [{ bearer: [] }],
      consumes: BODY_TYPES,
      body: TokenBody,
      response: { 200: IntrospectionResponse, ...oauthErrors(400, 401, 403, 413, 415, 503) },
    },
  }, async (request): Promise<Introspection> => {
    const token = required(request.body.token, 'token');
    // Refresh and access tokens never look alike: token_type_hint changes nothing.
    const refresh = deps.secrets.parseRefreshToken(token);
    if (refresh) {
      const claims = await introspectRefreshToken(deps, refresh);
      return claims ? { ...claims, iss: config.publicUrl } : { active: false };
    }
    if (JWT_SHAPE.test(token)) return introspectAccess(token);
    return { active: false };
  });
};
