/**
 * Webhook endpoints: create (the secret generated here, returned once, sealed in the
 * event), change (URL, event types, description, enabled or disabled), delete, replay
 * from a position, and the delivery reactor's disabling of an endpoint that keeps failing.
 * Every change is an event on `webhook-<id>` with the admin as actor. The URL policy is
 * the caller's (http layer): values arrive checked.
 */
import { webhookStream } from '../domain/events.js';
import {
  WebhookAggregate, checkEventTypes, decideChange, decideCreate, decideDelete, decideDisableFailing, decideReplay,
  requireWebhook, type ExistingWebhook, type WebhookChange,
} from '../domain/webhook/webhook.js';
import type { EventContext } from '../ports/events.js';
import { handle, type CommandDeps } from './handle.js';

export interface CreatedWebhook {
  webhook: ExistingWebhook;
  /** Shown to the admin this once. */
  secret: string;
  position: bigint | null;
}

export async function createWebhook(
  deps: CommandDeps, input: { url: string; eventTypes: string[]; description: string }, ctx: EventContext,
): Promise<CreatedWebhook> {
  const webhookId = deps.newId();
  const eventTypes = checkEventTypes(input.eventTypes);
  const secret = deps.secrets.newWebhookSecret();
  const secretSealed = deps.secrets.sealWebhookSecret(webhookId, secret);
  const r = await handle(deps, webhookStream(webhookId), WebhookAggregate,
    (state) => decideCreate(state, { webhookId, url: input.url, eventTypes, description: input.description, secretSealed }),
    ctx, { start: 'new' });
  return { webhook: requireWebhook(r.state), secret, position: r.position };
}

export async function changeWebhook(
  deps: CommandDeps, webhookId: string, change: WebhookChange, ctx: EventContext,
): Promise<{ webhook: ExistingWebhook; position: bigint | null }> {
  const checked: WebhookChange = { ...change, ...(change.eventTypes ? { eventTypes: checkEventTypes(change.eventTypes) } : {}) };
  const r = await handle(deps, webhookStream(webhookId), WebhookAggregate, (state) => decideChange(state, checked), ctx);
  return { webhook: requireWebhook(r.state), position: r.position };
}

export async function deleteWebhook(deps: CommandDeps, webhookId: string, ctx: EventContext): Promise<bigint | null> {
  return (await handle(deps, webhookStream(webhookId), WebhookAggregate, decideDelete, ctx)).position;
}

/** Records the replay; the caller moves the endpoint's checkpoint back (it is the engine's). */
export async function replayWebhook(deps: CommandDeps, webhookId: string, afterPosition: bigint, ctx: EventContext): Promise<ExistingWebhook> {
  const r = await handle(deps, webhookStream(webhookId), WebhookAggregate, (state) => decideReplay(state, afterPosition), ctx);
  return requireWebhook(r.state);
}

export async function disableFailingWebhook(deps: CommandDeps, webhookId: string, ctx: EventContext): Promise<bigint | null> {
  return (await handle(deps, webhookStream(webhookId), WebhookAggregate, decideDisableFailing, ctx)).position;
}
