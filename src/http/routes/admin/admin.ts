/**
 * /v1/admin/*: users (users.ts), the event store with its live SSE tail (events.ts, sse.ts),
 * run-time settings and projections (operations.ts, rebuilds.ts), signing keys (signingKeys.ts), imports (imports.ts). Every route needs the
 * role `admin`, checked once here for all of them before anything else (401/403 come
 * before any validation answer). Every admin action is an event whose `actor_id` is the
 * admin; the answer waits until the read models include it.
 */
import { adminMfaRoutes } from './mfa.js';
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import type { Runtime } from '../../../composition/runtime.js';
import { adminEventRoutes } from './events.js';
import { adminImportRoutes } from './imports.js';
import { adminOperationRoutes } from './operations.js';
import { adminSigningKeyRoutes } from './signingKeys.js';
import { adminUserRoutes } from './users.js';
import { adminWebhookRoutes } from './webhooks.js';

export { parseDecimal, parseTypes } from './events.js';

export const adminRoutes: FastifyPluginAsyncTypebox<{ runtime: Runtime }> = async (app, { runtime }) => {
  // The one role check of the admin API, before body parsing and validation.
  app.addHook('onRequest', app.requireRole('admin'));
  await app.register(adminUserRoutes, { runtime });
  await app.register(adminEventRoutes, { runtime });
  await app.register(adminOperationRoutes, { runtime });
  await app.register(adminWebhookRoutes, { runtime });
  await app.register(adminImportRoutes, { runtime });
  await app.register(adminMfaRoutes, { runtime });
  await app.register(adminSigningKeyRoutes, { runtime });
};
