/**
 * /v1/admin/users/:id/mfa: a user's second factors as an admin sees them (kinds, labels,
 * dates: never a secret, key or credential id), and their reset: MfaReset with the admin
 * as actor, for a user who lost every factor and every recovery code.
 */
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { Type } from '@sinclair/typebox';
import { mfaSummary, resetMfa } from '../../../commands/mfa/factors.js';
import type { Runtime } from '../../../composition/runtime.js';
import { UserIdParams } from '../../schemas/admin.js';
import { eventContext } from '../../context.js';
import { pathId } from '../../pathIds.js';
import { errorResponses } from '../../schemas/common.js';
import { FactorList } from '../../schemas/mfa.js';
import { factorListView } from '../../mfaViews.js';
import { currentUser } from '../../../commands/mfa/enrolTotp.js';


export const adminMfaRoutes: FastifyPluginAsyncTypebox<{ runtime: Runtime }> = async (app, { runtime }) => {
  const { deps } = runtime;
  const security = [{ bearer: [] }];
  const tags = ['admin'];
  const userIdOf = (id: string): string => pathId(id, 'user');

  app.get('/users/:id/mfa', {
    schema: {
      tags, security, summary: 'A user\'s second factors (no secrets)', params: UserIdParams,
      response: { 200: FactorList, ...errorResponses(401, 403, 404, 503) },
    },
  }, async (request) => {
    const userId = userIdOf(request.params.id);
    await currentUser(deps, userId);
    return factorListView(await mfaSummary(deps, userId));
  });

  app.delete('/users/:id/mfa', {
    schema: {
      tags, security, summary: 'Reset a user\'s second factors: every factor and recovery code is removed (MfaReset)',
      params: UserIdParams,
      response: { 204: Type.Null(), ...errorResponses(401, 403, 404, 503) },
    },
  }, async (request, reply) => {
    await runtime.readYourWrites(await resetMfa(deps, userIdOf(request.params.id), eventContext(request)));
    return reply.code(204).send(null);
  });
};
