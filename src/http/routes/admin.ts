/** Placeholder: the admin routes are being written (see the open issue). */
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import type { Runtime } from '../../runtime.js';

export const adminRoutes: FastifyPluginAsyncTypebox<{ runtime: Runtime }> = async () => {};
