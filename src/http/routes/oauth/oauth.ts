/**
 * /oauth/*: the standards face of the service, for OAuth 2.0 clients and resource servers:
 * token.ts (RFC 6749), revoke.ts (RFC 7009), introspect.ts (RFC 7662).
 *
 * Bodies are form-encoded (the parser is registered in this plugin only) or JSON, and
 * validated by the schemas in http/schemas/oauth.ts. Unknown parameters are ignored, a
 * parameter given twice is invalid_request, an empty one counts as missing (RFC 6749
 * §3.2). Every error here is RFC 6749 §5.2 `{ error, error_description }` (errors.ts), not
 * problem+json: this plugin has its own error and not-found handlers. Every answer
 * carries `Cache-Control: no-store` and `Pragma: no-cache`.
 */
import formbody from '@fastify/formbody';
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import type { Runtime } from '../../../composition/runtime.js';
import { OAuthError, sendOAuthError, toOAuthError } from './errors.js';
import { introspectRoute } from './introspect.js';
import { revokeRoute } from './revoke.js';
import { tokenRoute } from './token.js';

export { OAuthError, toOAuthError } from './errors.js';


export const oauthRoutes: FastifyPluginAsyncTypebox<{ runtime: Runtime }> = async (app, { runtime }) => {
  // Form bodies for /oauth/* only (this plugin is encapsulated; formbody's parser lands here).
  await app.register(formbody);
  app.setErrorHandler((error, request, reply) => sendOAuthError(reply, toOAuthError(error, request)));

  const methods = new Map<string, string[]>();
  app.addHook('onRoute', (route) => {
    const list = methods.get(route.url) ?? [];
    list.push(...(Array.isArray(route.method) ? route.method : [route.method]));
    methods.set(route.url, list);
  });
  app.setNotFoundHandler((request, reply) => {
    const path = (request.url.split('?')[0] ?? '/').replace(/\/+$/, '');
    const allowed = methods.get(path);
    if (allowed) {
      reply.header('allow', [...new Set(allowed)].join(', '));
      return sendOAuthError(reply, new OAuthError(405, 'invalid_request', `${request.method} is not allowed here`));
    }
    return sendOAuthError(reply, new OAuthError(404, 'invalid_request', `no endpoint ${path}`));
  });

  app.addHook('onSend', async (_request, reply, payload) => {
    reply.header('cache-control', 'no-store');
    reply.header('pragma', 'no-cache');
    return payload;
  });

  await app.register(tokenRoute, { runtime });
  await app.register(revokeRoute, { runtime });
  await app.register(introspectRoute, { runtime });
};
