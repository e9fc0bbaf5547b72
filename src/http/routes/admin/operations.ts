/** /v1/admin/settings and /v1/admin/projections: run-time settings, projection status and rebuilds. */
/**
 * /v1/admin/*: users, the event store (streams, the global log and its live SSE tail),
 * run-time settings and projections. Every route needs the role `admin`, checked once for
 * the whole plugin before anything else (401/403 come before any validation answer). Every
 * admin action is an event whose `actor_id` is the admin; the answer waits until the read
 * models include it. Events are shown only through src/infra/redact.ts.
 */
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { changeSettings } from '../../../commands/admin.js';
import type { SettingsValues } from '../../../domain/events.js';
import type { Runtime } from '../../../composition/runtime.js';
import { Accepted, ProjectionList, ProjectionParams, SettingsPatch, SettingsView } from '../../schemas/admin.js';
import { Rebuilds } from './rebuilds.js';
import { eventContext } from '../../context.js';
import { errorResponses } from '../../schemas/common.js';

export const adminOperationRoutes: FastifyPluginAsyncTypebox<{ runtime: Runtime }> = async (app, { runtime }) => {
  const { deps } = runtime;
  const security = [{ bearer: [] }];
  const tags = ['admin'];
  const rebuilds = new Rebuilds(runtime.projections, app.log);

  /// Settings

  const settingsView = (s: SettingsValues) => ({
    access_token_ttl_seconds: s.access_token_ttl_seconds,
    refresh_token_ttl_seconds: s.refresh_token_ttl_seconds,
    sliding_access_tokens: s.sliding_access_tokens,
    refresh_reuse_grace_seconds: s.refresh_reuse_grace_seconds,
  });

  app.get('/settings', {
    schema: { tags, security, summary: 'The effective run-time settings', response: { 200: SettingsView, ...errorResponses(401, 403) } },
  }, async () => settingsView(runtime.settings.current()));

  app.patch('/settings', {
    schema: {
      tags, security,
      summary: 'Change run-time settings: new tokens use them at once, on every instance (a SettingsChanged event)',
      body: SettingsPatch,
      response: { 200: SettingsView, ...errorResponses(400, 401, 403, 409, 503) },
    },
  }, async (request) => {
    const { settings, position } = await changeSettings(deps, runtime.settings.defaults, request.body, eventContext(request));
    const values = settingsView(settings);
    runtime.settings.set(values, position);
    return values;
  });

  /// Projections

  app.get('/projections', {
    schema: {
      tags, security, summary: 'Position and lag of every projection and in-memory consumer on this instance',
      response: { 200: ProjectionList, ...errorResponses(401, 403, 503) },
    },
  }, async () => {
    const status = await runtime.projections.status();
    return {
      projections: status.map((p) => ({
        name: p.name,
        kind: p.kind,
        position: p.position.toString(),
        head: p.head.toString(),
        lag_events: p.lag_events,
        lag_capped: p.lag_capped,
        lag_ms: Math.round(p.lag_ms),
        rebuilding: rebuilds.isRunning(p.name),
      })),
    };
  });

  app.post('/projections/:name/rebuild', {
    schema: {
      tags, security,
      summary: 'Rebuild a SQL projection in the background from the first event (swapped in atomically when done)',
      params: ProjectionParams,
      response: { 202: Accepted, ...errorResponses(401, 403, 404, 409, 503) },
    },
  }, async (request, reply) => {
    await rebuilds.start(request.params.name);
    return reply.code(202).send({ name: request.params.name, status: 'rebuilding' as const });
  });
};
