/**
 * One webhook endpoint as a reactor: each event it subscribes to, after the one that
 * created it, POSTed in log order as `{ type, timestamp, data }` (data: the admin feed's
 * view of the event, decoded at each attempt, so an erased user's personal data is never
 * sent after the erasure), signed by the sender. A failure is recorded and thrown: the
 * engine retries with growing delays and holds the endpoint's later events; only this
 * endpoint waits. After failing for `disableAfterMs` the endpoint is disabled (an event).
 */
import type { CommandDeps } from '../../commands/handle.js';
import { disableFailingWebhook } from '../../commands/webhooks.js';
import type { EventType } from '../../domain/events.js';
import type { Decoded } from '../../ports/events.js';
import type { Reactor } from '../../ports/reactors.js';
import type { Sql } from '../../ports/sql.js';
import type { WebhookSender } from '../../ports/webhooks.js';
import { failingSince } from '../engine/reactorCheckpoints.js';
import { recordDelivery } from './deliveries.js';

export interface WebhookEndpoint {
  id: string;
  url: string;
  secret: string;
  eventTypes: readonly string[];
  createdPosition: bigint;
}

export interface DeliveryOptions {
  sql: Sql;
  deps: CommandDeps;
  sender: WebhookSender;
  /** The admin feed's view of a decoded event: the payload's `data` (infra/redact.ts). */
  view: (event: Decoded) => unknown;
  /** Give up (disable the endpoint) after failing this long. */
  disableAfterMs: number;
  /** The engine's retry delays, to tell when the next attempt is due. */
  retryFirstDelayMs: number;
  retryMaxDelayMs: number;
  stats: DeliveryStats;
}

/** Counts per endpoint, for the metrics. */
export class DeliveryStats {
  readonly delivered = new Map<string, number>();
  readonly failed = new Map<string, number>();
  count(webhookId: string, ok: boolean): void {
    const m = ok ? this.delivered : this.failed;
    m.set(webhookId, (m.get(webhookId) ?? 0) + 1);
  }
}

export class DeliveryFailed extends Error {
  override readonly name = 'DeliveryFailed';
}

export const webhookReactorName = (webhookId: string): string => `webhook:${webhookId}`;

export function webhookReactor(endpoint: WebhookEndpoint, o: DeliveryOptions): Reactor {
  const name = webhookReactorName(endpoint.id);
  const all = endpoint.eventTypes.includes('*');
  return {
    name,
    ...(all ? {} : { types: endpoint.eventTypes as EventType[] }),
    startAfter: endpoint.createdPosition,
    async react(event, attempt) {
      const body = JSON.stringify({ type: event.type, timestamp: event.occurredAt.toISOString(), data: o.view(event) });
      const res = await o.sender.send({ url: endpoint.url, secret: endpoint.secret, id: event.id, body });
      o.stats.count(endpoint.id, res.ok);
      const since = res.ok ? null : (await failingSince(o.sql, name, event.position)) ?? new Date();
      const giveUp = since !== null && Date.now() - since.getTime() >= o.disableAfterMs;
      const delay = Math.min(o.retryFirstDelayMs * 2 ** Math.min(attempt - 1, 30), o.retryMaxDelayMs);
      await recordDelivery(o.sql, {
        webhookId: endpoint.id, eventId: event.id, position: event.position, attempt, statusCode: res.status,
        error: res.error, nextAttemptAt: res.ok || giveUp ? null : new Date(Date.now() + delay),
      });
      if (res.ok) return;
      if (giveUp) {
        await disableFailingWebhook(o.deps, endpoint.id, {
          now: new Date(), correlationId: event.id, causationId: event.id, actorId: null, requestId: null, ip: null, userAgent: null,
        });
        throw new DeliveryFailed(`endpoint disabled after failing for ${Math.round(o.disableAfterMs / 1000)} s`);
      }
      throw new DeliveryFailed(res.error ?? `answered ${res.status ?? 'nothing'}`);
    },
  };
}
