/**
 * POST /oauth/token (RFC 6749): grant_type=password (the same command as /v1/auth/login:
 * same throttling, same LoginFailed events) and grant_type=refresh_token (the same
 * rotation and reuse detection as /v1/auth/refresh, through app.rotateRefreshToken).
 */
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { issueTokens } from '../../../commands/issueTokens.js';
import type { Runtime } from '../../../composition/runtime.js';
import { ValidationError } from '../../../domain/errors.js';
import { normaliseIdentifier } from '../../../policy/identifiers.js';
import { eventContext } from '../../context.js';
import { BODY_TYPES, TokenRequest, TokenResponse, oauthErrors } from '../../schemas/oauth.js';
import { OAuthError, invalidGrant, required } from './errors.js';
import { subjectOf } from '../../views.js';
import { credentialsLimit } from '../../plugins/rateLimits.js';

export const tokenRoute: FastifyPluginAsyncTypebox<{ runtime: Runtime }> = async (app, { runtime }) => {
  const { deps, config } = runtime;
  app.post('/token', {
    config: {
      // Per client IP, in the budget of every credential endpoint: only password grants count.
      rateLimit: credentialsLimit(config, {
        hook: 'preHandler',
        allowList: (request) => {
          const body = request.body;
          return !(typeof body === 'object' && body !== null && (body as Record<string, unknown>).grant_type === 'password');
        },
        errorResponseBuilder: (_request, ctx) => new OAuthError(429, 'invalid_grant',
          'too many login attempts from this address; try again later',
          { 'retry-after': String(Math.max(1, Math.ceil(ctx.ttl / 1000))) }),
      }),
    },
    schema: {
      tags: ['oauth'],
      summary: 'RFC 6749 token endpoint: password and refresh_token grants',
      consumes: BODY_TYPES,
      body: TokenRequest,
      response: { 200: TokenResponse, ...oauthErrors(400, 413, 415, 429, 503) },
    },
  }, async (request) => {
    const grantType = required(request.body.grant_type, 'grant_type');
    // client_id (public clients) and scope (no scopes here) are accepted and ignored.
    let issued;
    if (grantType === 'password') {
      const username = required(request.body.username, 'username');
      const password = required(request.body.password, 'password');
      let identifier;
      try {
        identifier = normaliseIdentifier(username, '/username');
      } catch (e) {
        // Not an email or a phone number: no account can match it.
        if (e instanceof ValidationError) throw invalidGrant('invalid username or password');
        throw e;
      }
      issued = await issueTokens(deps, { identifier, password, via: 'oauth' }, eventContext(request, null));
      await runtime.readYourWrites(issued.position);
    } else if (grantType === 'refresh_token') {
      // The same path as /v1/auth/refresh: the coordinator tells a concurrent refresh of one
      // token (a race, invalid_grant) from a replay (reuse).
      issued = await app.rotateRefreshToken(request, required(request.body.refresh_token, 'refresh_token'));
    } else {
      throw new OAuthError(400, 'unsupported_grant_type', `grant_type ${JSON.stringify(grantType.slice(0, 100))} is not supported; use password or refresh_token`);
    }
    const { token, expiresIn } = app.signAccessToken(subjectOf(issued));
    return { access_token: token, token_type: 'Bearer' as const, expires_in: expiresIn, refresh_token: issued.refreshToken };
  });
};
