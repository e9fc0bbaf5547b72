/**
 * /v1/admin/webhooks: integrators' endpoints. Each change is a command with the admin as
 * actor; the secret is generated here and shown once; URLs are checked against the
 * delivery policy (https; http to loopback only with WEBHOOKS_ALLOW_HTTP; no link-local or
 * metadata addresses). The role check is the admin plugin's (admin.ts).
 */
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { Type } from '@sinclair/typebox';
import { changeWebhook, createWebhook, deleteWebhook, replayWebhook } from '../../../commands/webhooks.js';
import { NotFoundError, ValidationError } from '../../../domain/errors.js';
import type { ExistingWebhook } from '../../../domain/webhook/webhook.js';
import type { Runtime } from '../../../composition/runtime.js';
import { checkWebhookUrl } from '../../../infra/webhooks/policy.js';
import { getWebhook, listWebhooks } from '../../../projections/webhooks/queries.js';
import type { WebhookRow } from '../../../projections/webhooks/projection.js';
import { listDeliveries } from '../../../reactors/webhooks/deliveries.js';
import { eventContext } from '../../context.js';
import { errorResponses } from '../../schemas/common.js';
import {
  CreateWebhookBody, CreatedWebhookView, DeliveryList, PatchWebhookBody, ReplayBody, WebhookList, WebhookParams, WebhookView,
} from '../../schemas/webhooks.js';

type View = { id: string; url: string; event_types: string[]; description: string; status: 'enabled' | 'disabled';
  disabled_reason: string | null; created_at: string; updated_at: string };

const rowView = (r: WebhookRow): View => ({
  id: r.id, url: r.url, event_types: r.event_types, description: r.description, status: r.status === 'enabled' ? 'enabled' : 'disabled',
  disabled_reason: r.disabled_reason, created_at: new Date(r.created_at).toISOString(), updated_at: new Date(r.updated_at).toISOString(),
});

export const adminWebhookRoutes: FastifyPluginAsyncTypebox<{ runtime: Runtime }> = async (app, { runtime }) => {
  const { deps, config } = runtime;
  const security = [{ bearer: [] }];
  const tags = ['admin'];
  const caughtUp = async (position: bigint | null) => {
    await runtime.readYourWrites(position);
    runtime.webhooks.nudge();
  };
  const checkedUrl = (raw: string): string => {
    const checked = checkWebhookUrl(raw, { allowHttp: config.webhooks.allowHttp, allowPrivate: config.webhooks.allowPrivate });
    if (!checked.ok) throw new ValidationError('/url', checked.reason);
    return checked.url.toString();
  };
  const found = async (id: string): Promise<WebhookRow> => {
    const row = await getWebhook(runtime.sql, id);
    if (!row) throw new NotFoundError('webhook');
    return row;
  };
  const fresh = async (w: ExistingWebhook): Promise<View> => rowView(await found(w.id));

  app.post('/webhooks', {
    schema: {
      tags, security, summary: 'Subscribe an endpoint to auth events (the signing secret is in this answer only)',
      body: CreateWebhookBody,
      response: { 201: CreatedWebhookView, ...errorResponses(400, 401, 403, 413, 415, 503) },
    },
  }, async (request, reply) => {
    const b = request.body;
    const created = await createWebhook(deps, { url: checkedUrl(b.url), eventTypes: b.event_types, description: b.description ?? '' }, eventContext(request));
    await caughtUp(created.position);
    return reply.code(201).send({ ...(await fresh(created.webhook)), secret: created.secret });
  });

  app.get('/webhooks', {
    schema: { tags, security, summary: 'The webhook endpoints (never their secrets)', response: { 200: WebhookList, ...errorResponses(401, 403, 503) } },
  }, async () => ({ webhooks: (await listWebhooks(runtime.sql)).map(rowView) }));

  app.get('/webhooks/:id', {
    schema: { tags, security, summary: 'One webhook endpoint', params: WebhookParams, response: { 200: WebhookView, ...errorResponses(401, 403, 404, 503) } },
  }, async (request) => rowView(await found(request.params.id)));

  app.patch('/webhooks/:id', {
    schema: {
      tags, security, summary: 'Change the URL, event types or description; disable, or enable again (delivery resumes from its checkpoint)',
      params: WebhookParams, body: PatchWebhookBody,
      response: { 200: WebhookView, ...errorResponses(400, 401, 403, 404, 413, 415, 503) },
    },
  }, async (request) => {
    const b = request.body;
    await found(request.params.id);
    const { webhook, position } = await changeWebhook(deps, request.params.id, {
      ...(b.url !== undefined ? { url: checkedUrl(b.url) } : {}),
      ...(b.event_types !== undefined ? { eventTypes: b.event_types } : {}),
      ...(b.description !== undefined ? { description: b.description } : {}),
      ...(b.status !== undefined ? { status: b.status } : {}),
    }, eventContext(request));
    await caughtUp(position);
    return fresh(webhook);
  });

  app.delete('/webhooks/:id', {
    schema: { tags, security, summary: 'Delete an endpoint (deliveries stop)', params: WebhookParams, response: { 204: Type.Null(), ...errorResponses(401, 403, 404, 503) } },
  }, async (request, reply) => {
    await found(request.params.id);
    await caughtUp(await deleteWebhook(deps, request.params.id, eventContext(request)));
    return reply.code(204).send(null);
  });

  app.post('/webhooks/:id/replay', {
    schema: {
      tags, security, summary: 'Deliver again every matching event after a position (in order; receivers deduplicate on webhook-id)',
      params: WebhookParams, body: ReplayBody,
      response: { 202: Type.Object({ status: Type.Literal('replaying') }), ...errorResponses(400, 401, 403, 404, 413, 415, 503) },
    },
  }, async (request, reply) => {
    const row = await found(request.params.id);
    const after = BigInt(request.body.after_position);
    const from = after > BigInt(row.created_position) ? after : BigInt(row.created_position);
    await replayWebhook(deps, row.id, from, eventContext(request));
    await runtime.webhooks.replay(row.id, from);
    return reply.code(202).send({ status: 'replaying' as const });
  });

  app.get('/webhooks/:id/deliveries', {
    schema: {
      tags, security, summary: 'Delivery attempts, newest first (the last 100)', params: WebhookParams,
      response: { 200: DeliveryList, ...errorResponses(401, 403, 404, 503) },
    },
  }, async (request) => {
    const row = await found(request.params.id);
    return { deliveries: await listDeliveries(runtime.sql, row.id) };
  });
};
