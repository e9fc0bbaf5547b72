/**
 * The webhook aggregate: one integrator's endpoint, folded from `webhook-<id>`. Created
 * enabled; an admin updates, disables, enables, deletes it or asks for a replay; the
 * delivery reactor disables it after failing for too long (reason "failing"). Deleted is
 * final. URL policy and secrets are the caller's: values arrive checked.
 */
import { ConflictError, NotFoundError, ValidationError } from '../errors.js';
import { EVENT_TYPES, type Recorded, type WebhookDisabledReason, type WebhookEvent } from '../events.js';
import type { Aggregate } from '../decider.js';

export type WebhookStatus = 'enabled' | 'disabled' | 'deleted';

export interface ExistingWebhook {
  status: WebhookStatus;
  id: string;
  url: string;
  eventTypes: string[];
  description: string;
  secretSealed: string;
  disabledReason: WebhookDisabledReason | null;
  createdAt: Date;
  /** Where its deliveries start: the position of WebhookCreated. */
  createdPosition: bigint;
}

export type Webhook = { status: 'none' } | ExistingWebhook;

export function evolveWebhook(state: Webhook, e: Recorded<WebhookEvent>): Webhook {
  if (e.type === 'WebhookCreated') {
    const d = e.data;
    return {
      status: 'enabled', id: d.webhook_id, url: d.url, eventTypes: [...d.event_types], description: d.description,
      secretSealed: d.secret_sealed, disabledReason: null, createdAt: e.occurredAt, createdPosition: e.position,
    };
  }
  if (state.status === 'none' || state.status === 'deleted') return state;
  switch (e.type) {
    case 'WebhookUpdated':
      return { ...state, url: e.data.url, eventTypes: [...e.data.event_types], description: e.data.description };
    case 'WebhookDisabled':
      return { ...state, status: 'disabled', disabledReason: e.data.reason };
    case 'WebhookEnabled':
      return { ...state, status: 'enabled', disabledReason: null };
    case 'WebhookDeleted':
      return { ...state, status: 'deleted' };
    case 'WebhookReplayRequested':
      return state;
  }
}

export const WebhookAggregate: Aggregate<Webhook, WebhookEvent> = { initial: () => ({ status: 'none' }), evolve: evolveWebhook };

const MAX_TYPES = 100;

/** ["*"], or distinct names of event types this service writes (400 otherwise). */
export function checkEventTypes(types: readonly string[]): string[] {
  if (types.length === 0) throw new ValidationError('/event_types', 'give at least one event type, or ["*"] for all');
  if (types.includes('*')) {
    if (types.length > 1) throw new ValidationError('/event_types', '"*" stands alone');
    return ['*'];
  }
  if (types.length > MAX_TYPES) throw new ValidationError('/event_types', `at most ${MAX_TYPES} event types`);
  const known = new Set<string>(EVENT_TYPES);
  for (const [i, t] of types.entries()) {
    if (!known.has(t)) throw new ValidationError(`/event_types/${i}`, `unknown event type "${t.slice(0, 60)}"`);
  }
  return [...new Set(types)];
}

export function requireWebhook(state: Webhook): ExistingWebhook {
  if (state.status === 'none' || state.status === 'deleted') throw new NotFoundError('webhook');
  return state;
}

export function decideCreate(
  state: Webhook, c: { webhookId: string; url: string; eventTypes: string[]; description: string; secretSealed: string },
): WebhookEvent[] {
  if (state.status !== 'none') throw new ConflictError('webhook already exists');
  return [{
    type: 'WebhookCreated',
    data: { webhook_id: c.webhookId, url: c.url, event_types: c.eventTypes, description: c.description, secret_sealed: c.secretSealed },
  }];
}

export interface WebhookChange {
  url?: string;
  eventTypes?: string[];
  description?: string;
  status?: 'enabled' | 'disabled';
}

export function decideChange(state: Webhook, c: WebhookChange): WebhookEvent[] {
  const w = requireWebhook(state);
  const events: WebhookEvent[] = [];
  const url = c.url ?? w.url;
  const eventTypes = c.eventTypes ?? w.eventTypes;
  const description = c.description ?? w.description;
  if (url !== w.url || eventTypes.join('\n') !== w.eventTypes.join('\n') || description !== w.description) {
    events.push({ type: 'WebhookUpdated', data: { webhook_id: w.id, url, event_types: eventTypes, description } });
  }
  if (c.status === 'disabled' && w.status === 'enabled') events.push({ type: 'WebhookDisabled', data: { webhook_id: w.id, reason: 'admin' } });
  if (c.status === 'enabled' && w.status === 'disabled') events.push({ type: 'WebhookEnabled', data: { webhook_id: w.id } });
  return events;
}

/** The delivery reactor gives up on an endpoint that keeps failing (nothing when it is not enabled). */
export function decideDisableFailing(state: Webhook): WebhookEvent[] {
  if (state.status !== 'enabled') return [];
  return [{ type: 'WebhookDisabled', data: { webhook_id: state.id, reason: 'failing' } }];
}

export function decideDelete(state: Webhook): WebhookEvent[] {
  const w = requireWebhook(state);
  return [{ type: 'WebhookDeleted', data: { webhook_id: w.id } }];
}

export function decideReplay(state: Webhook, afterPosition: bigint): WebhookEvent[] {
  const w = requireWebhook(state);
  if (afterPosition < 0n) throw new ValidationError('/after_position', 'a position is 0 or more');
  return [{ type: 'WebhookReplayRequested', data: { webhook_id: w.id, after_position: afterPosition.toString() } }];
}
