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
import { BODY_TYPES, MfaRequiredOAuthError, TokenRequest, TokenResponse, oauthErrors } from '../../schemas/oauth.js';
import { OAuthError, invalidGrant, invalidRequest, required } from './errors.js';
import { completeSignIn, isMfaRequired } from '../../../commands/mfa/signIn.js';
import { subjectOf } from '../../views.js';
import { credentialsLimit } from '../../plugins/rateLimits.js';

/** The extension grant (RFC 6749 §4.5) that redeems an MFA ticket with a second factor. */
export const MFA_GRANT = 'urn:authstream:params:oauth:grant-type:mfa';

export const tokenRoute: FastifyPluginAsyncTypebox<{ runtime: Runtime }> = async (app, { runtime }) => {
  const { deps, config } = runtime;
  app.post('/token', {
    config: {
      // Per client IP, in the budget of every credential endpoint: only password and mfa grants count.
      rateLimit: credentialsLimit(config, {
        hook: 'preHandler',
        allowList: (request) => {
          const body = request.body;
          const grant = typeof body === 'object' && body !== null ? (body as Record<string, unknown>).grant_type : undefined;
          return grant !== 'password' && grant !== MFA_GRANT;
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
      response: { 200: TokenResponse, 403: MfaRequiredOAuthError, ...oauthErrors(400, 413, 415, 429, 503) },
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
        identifier = normaliseIdentifier(username, '/username', runtime.deps.phoneRegion);
      } catch (e) {
        // Not an email or a phone number: no account can match it.
        if (e instanceof ValidationError) throw invalidGrant('invalid username or password');
        throw e;
      }
      const outcome = await issueTokens(deps, { identifier, password, via: 'oauth' }, eventContext(request, null));
      if (isMfaRequired(outcome)) {
        await runtime.readYourWrites(outcome.position);
        // As Auth0 and others answer it: the ticket goes back through this endpoint with the mfa grant.
        throw new OAuthError(403, 'mfa_required', 'a second factor is required: use grant_type ' + MFA_GRANT + ' with mfa_token and otp or recovery_code',
          { 'cache-control': 'no-store' }, { mfa_token: outcome.ticket, expires_in: outcome.expiresIn, mfa_methods: outcome.methods });
      }
      issued = outcome;
      await runtime.readYourWrites(issued.position);
    } else if (grantType === MFA_GRANT) {
      const ticket = required(request.body.mfa_token, 'mfa_token');
      const { otp, recovery_code: recoveryCode } = request.body;
      if ((otp === undefined) === (recoveryCode === undefined)) throw invalidRequest('give exactly one of otp and recovery_code');
      issued = await completeSignIn(deps, ticket, otp === undefined ? { recoveryCode: recoveryCode as string } : { code: otp }, eventContext(request, null));
      await runtime.readYourWrites(issued.position);
    } else if (grantType === 'refresh_token') {
      // The same path as /v1/auth/refresh: the coordinator tells a concurrent refresh of one
      // token (a race, invalid_grant) from a replay (reuse).
      issued = await app.rotateRefreshToken(request, required(request.body.refresh_token, 'refresh_token'));
    } else {
      throw new OAuthError(400, 'unsupported_grant_type', `grant_type ${JSON.stringify(grantType.slice(0, 100))} is not supported; use password, refresh_token or ${MFA_GRANT}`);
    }
    const { token, expiresIn } = app.signAccessToken(subjectOf(issued));
    return { access_token: token, token_type: 'Bearer' as const, expires_in: expiresIn, refresh_token: issued.refreshToken };
  });
};
