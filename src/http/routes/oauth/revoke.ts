/** POST /oauth/revoke (RFC 7009): a refresh or access token; either ends its session. 200 for unknown tokens too. */
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import type { FastifyReply } from 'fastify';
import { logoutByRefreshToken, logoutSession } from '../../../commands/logout.js';
import type { Runtime } from '../../../composition/runtime.js';
import { eventContext } from '../../context.js';
import type { AccessClaims } from '../../plugins/auth.js';
import { required } from './errors.js';
import { BODY_TYPES, JWT_SHAPE, TokenBody, oauthErrors } from '../../schemas/oauth.js';

export const revokeRoute: FastifyPluginAsyncTypebox<{ runtime: Runtime }> = async (app, { runtime }) => {
  const { deps } = runtime;
  app.post('/revoke', {
    schema: {
      tags: ['oauth'],
      summary: 'RFC 7009 revocation: a refresh or access token; its session ends. 200 for unknown tokens too',
      consumes: BODY_TYPES,
      body: TokenBody,
      response: {
        200: { description: 'RFC 7009: the token is revoked, or there was nothing to revoke (an empty body)', type: 'null' },
        ...oauthErrors(400, 413, 415, 503),
      },
    },
  }, async (request, reply) => {
    const token = required(request.body.token, 'token');
    const ctx = eventContext(request, null);
    if (deps.secrets.parseRefreshToken(token)) {
      await runtime.readYourWrites(await logoutByRefreshToken(deps, token, ctx));
    } else if (JWT_SHAPE.test(token)) {
      let claims: AccessClaims | null = null;
      try {
        claims = await app.verifyAccessToken(token);
      } catch {
        claims = null; // invalid, expired or already revoked: nothing to do (RFC 7009 §2.2)
      }
      if (claims) await runtime.readYourWrites(await logoutSession(deps, claims.sid, { ...ctx, actorId: claims.sub }));
    }
    return (reply as FastifyReply).code(200).send(); // RFC 7009: an empty 200
  });
};
