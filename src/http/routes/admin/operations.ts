/**
 * /v1/admin/settings and /v1/admin/projections: run-time settings, projection status,
 * rebuilds and parked events. The role check is the admin plugin's (admin.ts).
 */
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { changeSettings } from '../../../commands/admin.js';
import type { SettingsValues } from '../../../domain/events.js';
import type { Runtime } from '../../../composition/runtime.js';
import { Type } from '@sinclair/typebox';
import { ConflictError, NotFoundError } from '../../../domain/errors.js';
import { isStoreUnavailable } from '../../../ports/eventStore.js';
import { countParked, listParked } from '../../../projections/index.js';
import {
  Accepted, ParkedList, ParkedParams, ProjectionList, ProjectionParams, SettingsPatch, SettingsView,
} from '../../schemas/admin.js';
import { Rebuilds, type RebuildState } from './rebuilds.js';
import { eventContext } from '../../context.js';
import { errorResponses } from '../../schemas/common.js';

const progressOf = (state: RebuildState | undefined) => (state === undefined ? null : {
  started_at: state.startedAt.toISOString(), applied: state.applied, position: state.position.toString(),
});

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
    mfa_required_roles: [...s.mfa_required_roles],
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
    await runtime.readYourWrites(position); // the event feed shows the change once the answer is out
    return values;
  });

  /// Projections

  app.get('/projections', {
    schema: {
      tags, security, summary: 'Position and lag of every projection and in-memory consumer on this instance, and the reactors\' state',
      response: { 200: ProjectionList, ...errorResponses(401, 403, 503) },
    },
  }, async () => {
    const status = await runtime.projections.status();
    return {
      parked_events: await countParked(runtime.sql),
      reactors: await runtime.reactors.status(),
      projections: status.map((p) => ({
        name: p.name,
        kind: p.kind,
        position: p.position.toString(),
        head: p.head.toString(),
        lag_events: p.lag_events,
        lag_capped: p.lag_capped,
        lag_ms: Math.round(p.lag_ms),
        rebuilding: rebuilds.isRunning(p.name),
        rebuild: progressOf(rebuilds.state(p.name)),
      })),
    };
  });

  app.get('/projections/parked', {
    schema: {
      tags, security, summary: 'Events the read models could not apply: parked with the reason and stepped over',
      response: { 200: ParkedList, ...errorResponses(401, 403, 503) },
    },
  }, async () => ({
    parked: (await listParked(runtime.sql, 1000)).map((p) => ({
      position: p.position.toString(), event_id: p.eventId, stream_id: p.streamId, type: p.type, reason: p.reason,
      parked_at: p.parkedAt.toISOString(),
    })),
  }));

  app.post('/projections/parked/:position/retry', {
    schema: {
      tags, security, summary: 'Apply a parked event again to every SQL read model (after a fix); unparked when it goes through',
      params: ParkedParams,
      response: { 204: Type.Null(), ...errorResponses(401, 403, 404, 409, 503) },
    },
  }, async (request, reply) => {
    let outcome: 'applied' | 'missing';
    try {
      outcome = await runtime.projections.retryParked(BigInt(request.params.position), eventContext(request));
    } catch (error) {
      if (isStoreUnavailable(error)) throw error;
      throw new ConflictError(`the event still cannot be applied: ${error instanceof Error ? error.message.slice(0, 300) : 'unknown error'}`);
    }
    if (outcome === 'missing') throw new NotFoundError('parked event');
    return reply.code(204).send(null);
  });

  app.delete('/projections/parked/:position', {
    schema: {
      tags, security, summary: 'Skip a parked event: forget it (the read models stay without it until a rebuild)',
      params: ParkedParams,
      response: { 204: Type.Null(), ...errorResponses(401, 403, 404, 503) },
    },
  }, async (request, reply) => {
    if (!(await runtime.projections.skipParked(BigInt(request.params.position), eventContext(request)))) {
      throw new NotFoundError('parked event');
    }
    return reply.code(204).send(null);
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
