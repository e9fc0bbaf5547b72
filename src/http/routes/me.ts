/** /v1/me/*: the signed-in user's profile, password, sessions, activity and erasure. */
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { Type } from '@sinclair/typebox';
import { changePassword } from '../../commands/changePassword.js';
import { eraseUser } from '../../commands/eraseUser.js';
import { revokeOwnSession } from '../../commands/logout.js';
import { updateProfile } from '../../commands/updateProfile.js';
import type { Runtime } from '../../composition/runtime.js';
import { credentialsLimit } from '../plugins/rateLimits.js';
import { eventContext } from '../context.js';
import { pathId } from '../pathIds.js';
import { HttpProblem } from '../problem.js';
import {
  ActivityList, ChangePasswordBody, EraseMeBody, errorResponses, PatchMeBody, SessionIdParams, SessionList, User,
} from '../schemas/common.js';
import { activityView, sessionView, userView } from '../views.js';


export const meRoutes: FastifyPluginAsyncTypebox<{ runtime: Runtime }> = async (app, { runtime }) => {
  const { deps, readModels } = runtime;
  const caughtUp = (position: bigint | null) => runtime.readYourWrites(position);
  const security = [{ bearer: [] }];

  app.addHook('preHandler', app.authenticate);
  const who = (request: { auth: { userId: string; sessionId: string } | null }) => {
    if (!request.auth) throw new HttpProblem('unauthorized', 'a Bearer token is required');
    return request.auth;
  };

  app.get('/', {
    schema: { tags: ['me'], summary: 'The signed-in user', security, response: { 200: User, ...errorResponses(401, 503) } },
  }, async (request) => {
    const user = await readModels.getUser(who(request).userId);
    if (!user || user.status === 'erased') throw new HttpProblem('invalid_token', 'this account no longer exists');
    return userView(user);
  });

  app.patch('/', {
    schema: {
      tags: ['me'], summary: 'Update names, email or phone (null removes, unless it is the last identifier)', security,
      body: PatchMeBody,
      response: { 200: User, ...errorResponses(400, 401, 409, 413, 415, 503) },
    },
  }, async (request) => {
    const b = request.body;
    const { user, position } = await updateProfile(deps, who(request).userId, {
      firstName: b.first_name, lastName: b.last_name, email: b.email, phone: b.phone,
    }, eventContext(request));
    await caughtUp(position);
    return userView(user);
  });

  app.delete('/', {
    config: { rateLimit: credentialsLimit(runtime.config, { errorResponseBuilder: () => new HttpProblem('rate_limited', 'too many attempts from this address; try again later') }) },
    schema: {
      tags: ['me'], summary: 'Erase the account (crypto-shredding of all personal data)', security,
      body: EraseMeBody,
      response: { 204: Type.Null(), ...errorResponses(400, 401, 413, 415, 429, 503) },
    },
  }, async (request, reply) => {
    const auth = who(request);
    await caughtUp(await eraseUser(deps, { userId: auth.userId, password: request.body.password }, eventContext(request)));
    return reply.code(204).send(null);
  });

  app.post('/password', {
    config: { rateLimit: credentialsLimit(runtime.config, { errorResponseBuilder: () => new HttpProblem('rate_limited', 'too many attempts from this address; try again later') }) },
    schema: {
      tags: ['me'], summary: 'Change the password; every other session is revoked', security,
      body: ChangePasswordBody,
      response: { 204: Type.Null(), ...errorResponses(400, 401, 409, 413, 415, 429, 503) },
    },
  }, async (request, reply) => {
    const auth = who(request);
    await caughtUp(await changePassword(deps, {
      userId: auth.userId, sessionId: auth.sessionId,
      currentPassword: request.body.current_password, newPassword: request.body.new_password,
    }, eventContext(request)));
    return reply.code(204).send(null);
  });

  app.get('/sessions', {
    schema: { tags: ['me'], summary: 'Active sessions', security, response: { 200: SessionList, ...errorResponses(401, 503) } },
  }, async (request) => {
    const auth = who(request);
    const sessions = await readModels.listSessions(auth.userId, new Date());
    return {
      sessions: sessions.map((s) => ({ ...sessionView(s), current: s.id === auth.sessionId })),
    };
  });

  app.delete('/sessions/:id', {
    schema: {
      tags: ['me'], summary: 'Revoke one of your sessions', security,
      params: SessionIdParams,
      response: { 204: Type.Null(), ...errorResponses(401, 404, 503) },
    },
  }, async (request, reply) => {
    const auth = who(request);
    await caughtUp(await revokeOwnSession(deps, auth.userId, pathId(request.params.id, 'session'), eventContext(request)));
    return reply.code(204).send(null);
  });

  app.get('/activity', {
    schema: { tags: ['me'], summary: 'Your own audit trail, newest first', security, response: { 200: ActivityList, ...errorResponses(401, 503) } },
  }, async (request) => {
    return { events: (await readModels.activity(who(request).userId, 200)).map(activityView) };
  });
};
