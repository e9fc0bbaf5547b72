/** /v1/admin/users*: search and view users and their activity; erase, disable, enable, roles, sessions. */
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { Type } from '@sinclair/typebox';
import { disableUser, enableUser, grantRole, revokeRole } from '../../../commands/admin.js';
import { revokeSessionByAdmin } from '../../../commands/logout.js';
import { eraseUser } from '../../../commands/eraseUser.js';
import { issuePasswordReset } from '../../../commands/recovery/issue.js';
import { NotFoundError, ValidationError } from '../../../domain/errors.js';
import { isPlainText } from '../../../policy/identifiers.js';
import type { Runtime } from '../../../composition/runtime.js';
import {
  ActivityQuery, AdminUser, RoleBody, UserIdParams, UserPage, UserRoleParams, UserSessionParams, UsersQuery,
} from '../../schemas/admin.js';
import { eventContext } from '../../context.js';
import { pathId } from '../../pathIds.js';
import { ActivityList, errorResponses } from '../../schemas/common.js';
import { activityView, sessionView, userView } from '../../views.js';

import type { FastifyReply, FastifyRequest, FastifySchema } from 'fastify';

const userIdOf = (id: string): string => pathId(id, 'user');
const sessionIdOf = (id: string): string => pathId(id, 'session');

export const adminUserRoutes: FastifyPluginAsyncTypebox<{ runtime: Runtime }> = async (app, { runtime }) => {
  const { deps, readModels } = runtime;
  const caughtUp = (position: bigint | null) => runtime.readYourWrites(position);
  const security = [{ bearer: [] }];
  const tags = ['admin'];

  /// Users: reads

  app.get('/users', {
    schema: {
      tags, security, summary: 'Search users (every status), oldest first, keyset-paginated',
      querystring: UsersQuery,
      response: { 200: UserPage, ...errorResponses(400, 401, 403, 503) },
    },
  }, async (request) => {
    const { query, limit, cursor } = request.query;
    if (query !== undefined && !isPlainText(query)) throw new ValidationError('/query', 'must not contain control characters');
    const page = await readModels.searchUsers({ query: query ?? null, limit: limit ?? 50, cursor: cursor ?? null });
    return { users: page.users.map(userView), next_cursor: page.nextCursor };
  });

  app.get('/users/:id', {
    schema: {
      tags, security, summary: 'A user with their active sessions (an erased user: status "erased", no personal data)',
      params: UserIdParams,
      response: { 200: AdminUser, ...errorResponses(401, 403, 404, 503) },
    },
  }, async (request) => {
    const id = userIdOf(request.params.id);
    const user = await readModels.getUser(id);
    if (!user) throw new NotFoundError('user');
    const sessions = user.status === 'erased' ? [] : await readModels.listSessions(id, new Date());
    return {
      ...userView(user),
      sessions: sessions.map(sessionView),
    };
  });

  app.get('/users/:id/activity', {
    schema: {
      tags, security, summary: 'A user\'s audit trail, newest first (what GET /v1/me/activity shows them)',
      params: UserIdParams,
      querystring: ActivityQuery,
      response: { 200: ActivityList, ...errorResponses(400, 401, 403, 404, 503) },
    },
  }, async (request) => {
    const id = userIdOf(request.params.id);
    if (!(await readModels.getUser(id))) throw new NotFoundError('user');
    return { events: (await readModels.activity(id, request.query.limit ?? 100)).map(activityView) };
  });

  /// Users: actions. Each is one command with the admin as actor; 204 once the read models include it.

  const action = (
    method: 'POST' | 'DELETE',
    url: string,
    summary: string,
    params: typeof UserIdParams | typeof UserRoleParams | typeof UserSessionParams,
    run: (userId: string, p: { id: string; role?: string; session_id?: string }, request: FastifyRequest) => Promise<bigint | null>,
    statuses: number[] = [401, 403, 404, 503],
  ): void => {
    const schema: FastifySchema = { tags, security, summary, params, response: { 204: Type.Null(), ...errorResponses(...statuses) } };
    app.route({
      method, url, schema,
      handler: async (request: FastifyRequest, reply: FastifyReply) => {
        const p = request.params as { id: string; role?: string; session_id?: string };
        await caughtUp(await run(userIdOf(p.id), p, request));
        return reply.code(204).send(null);
      },
    });
  };

  action('DELETE', '/users/:id', 'Erase a user (crypto-shredding of all their personal data)', UserIdParams,
    (id, _p, request) => eraseUser(deps, { userId: id, password: null }, eventContext(request)));
  action('POST', '/users/:id/disable', 'Disable a user and revoke all their sessions', UserIdParams,
    (id, _p, request) => disableUser(deps, id, eventContext(request)));
  action('POST', '/users/:id/enable', 'Enable a disabled user', UserIdParams,
    (id, _p, request) => enableUser(deps, id, eventContext(request)));
  action('DELETE', '/users/:id/sessions/:session_id', 'Revoke one session of the user (SessionRevoked, reason revoked_by_admin)', UserSessionParams,
    (id, p, request) => revokeSessionByAdmin(deps, id, sessionIdOf(p.session_id ?? ''), eventContext(request)));
  action('DELETE', '/users/:id/roles/:role', 'Revoke a role (idempotent)', UserRoleParams,
    (id, p, request) => revokeRole(deps, id, p.role ?? '', eventContext(request)), [400, 401, 403, 404, 503]);

  app.post('/users/:id/password-reset', {
    schema: {
      tags, security, summary: 'Send the user a password reset message, as /v1/auth/password/forgot would (by email, else SMS)',
      params: UserIdParams,
      response: { 202: Type.Object({ status: Type.Literal('accepted') }), ...errorResponses(401, 403, 404, 409, 503) },
    },
  }, async (request, reply) => {
    const userId = userIdOf(request.params.id);
    await caughtUp(await issuePasswordReset(deps, { userId, requestId: deps.newId(), strict: true }, eventContext(request)));
    return reply.code(202).send({ status: 'accepted' as const });
  });

  app.post('/users/:id/roles', {
    schema: {
      tags, security, summary: 'Grant a role (idempotent)',
      params: UserIdParams,
      body: RoleBody,
      response: { 204: Type.Null(), ...errorResponses(400, 401, 403, 404, 503) },
    },
  }, async (request, reply) => {
    await caughtUp(await grantRole(deps, userIdOf(request.params.id), request.body.role, eventContext(request)));
    return reply.code(204).send(null);
  });
};
