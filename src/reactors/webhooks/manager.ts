/**
 * Keeps one reactor per enabled webhook endpoint running in the webhooks' own engine
 * (its own retry delays: growing to WEBHOOK_RETRY_MAX_SECONDS), following the `webhooks`
 * read model: a new or re-enabled endpoint starts (from its checkpoint, or after its
 * creation), a changed one restarts with the new settings, a disabled or deleted one
 * stops (its checkpoint kept: re-enabling resumes there). The secret comes from the
 * endpoint's own event stream, unsealed with the server key.
 */
import type { CommandDeps } from '../../commands/handle.js';
import { load } from '../../commands/load.js';
import { webhookStream, type EventType } from '../../domain/events.js';
import type { EventStore } from '../../ports/eventStore.js';
import type { Decoded } from '../../ports/events.js';
import { WebhookAggregate } from '../../domain/webhook/webhook.js';
import type { Sql } from '../../ports/sql.js';
import type { WebhookSender } from '../../ports/webhooks.js';
import type { ReactorRunner } from '../engine/reactorRunner.js';
import { migrateDeliveries } from './deliveries.js';
import { DeliveryStats, webhookReactor, webhookReactorName } from './delivery.js';

const LAG_SCAN = 10_000;

/** What the manager needs of an endpoint's row in the webhooks read model. */
export interface EndpointRow {
  id: string;
  status: string;
  event_types: string[];
  /** Position of its newest event: a change restarts its reactor. */
  version: string;
}

export interface WebhookManagerOptions {
  /** The endpoints as the webhooks read model has them (projections/webhooks/queries.ts). */
  endpoints: () => Promise<EndpointRow[]>;
  /** The admin feed's view of an event (infra/redact.ts). */
  view: (event: Decoded) => unknown;
  sql: Sql;
  store: EventStore;
  deps: CommandDeps;
  runner: ReactorRunner;
  sender: WebhookSender;
  disableAfterMs: number;
  retryFirstDelayMs: number;
  retryMaxDelayMs: number;
  /** How often the endpoint list is read again (nudge() reads it at once). */
  syncMs?: number;
  log: { error(obj: Record<string, unknown>, msg: string): void };
}

export interface WebhookLag {
  id: string;
  position: bigint;
}

export class WebhookManager {
  readonly stats = new DeliveryStats();
  readonly #o: WebhookManagerOptions;
  /** Endpoint id → the version (position of its newest event) its running reactor was made from. */
  readonly #running = new Map<string, string>();
  #timer: NodeJS.Timeout | undefined;
  #syncing: Promise<void> = Promise.resolve();
  #stopped = false;

  constructor(options: WebhookManagerOptions) {
    this.#o = options;
  }

  /** Its table (the delivery log), also where no deliveries run (the admin API reads it). */
  async prepare(): Promise<void> {
    await migrateDeliveries(this.#o.sql);
  }

  async start(): Promise<void> {
    await this.prepare();
    await this.#o.runner.start();
    await this.sync();
    this.#schedule();
  }

  async stop(): Promise<void> {
    this.#stopped = true;
    clearTimeout(this.#timer);
    await this.#syncing;
    await this.#o.runner.stop();
  }

  /** Read the endpoint list now (an endpoint changed on this instance). */
  nudge(): void {
    void this.sync();
  }

  /** Deliver again every event after `position` to the endpoint. */
  replay(webhookId: string, position: bigint): Promise<boolean> {
    return this.#o.runner.rewind(webhookReactorName(webhookId), position);
  }

  /** Per running endpoint: events of its types after its checkpoint (up to 10,000). */
  async lags(): Promise<{ id: string; lag: number }[]> {
    const out: { id: string; lag: number }[] = [];
    const endpoints = await this.#o.endpoints();
    for (const status of await this.#o.runner.status()) {
      const id = status.name.slice('webhook:'.length);
      const types = endpoints.find((r) => r.id.toLowerCase() === id)?.event_types ?? ['*'];
      const pending = await this.#o.store.readAll({
        after: BigInt(status.position), maxCount: LAG_SCAN, ...(types.includes('*') ? {} : { types: types as EventType[] }),
      });
      out.push({ id, lag: pending.length });
    }
    return out;
  }

  sync(): Promise<void> {
    this.#syncing = this.#syncing.then(() => this.#sync()).catch((error: unknown) => {
      this.#o.log.error({ reason: error instanceof Error ? error.message : String(error) }, 'webhook list could not be read; retrying');
    });
    return this.#syncing;
  }

  #schedule(): void {
    if (this.#stopped) return;
    this.#timer = setTimeout(() => {
      void this.sync().finally(() => this.#schedule());
    }, this.#o.syncMs ?? 1000);
    this.#timer.unref();
  }

  async #sync(): Promise<void> {
    if (this.#stopped) return;
    const rows = await this.#o.endpoints();
    const wanted = new Map(rows.filter((r) => r.status === 'enabled').map((r) => [r.id.toLowerCase(), r.version]));
    for (const [id, version] of this.#running) {
      if (wanted.get(id) === version) continue;
      await this.#o.runner.remove(webhookReactorName(id));
      this.#running.delete(id);
    }
    for (const [id, version] of wanted) {
      if (this.#running.has(id)) continue;
      const { state } = await load(this.#o.deps, webhookStream(id), WebhookAggregate);
      if (state.status !== 'enabled') continue; // the read model is ahead of or behind the stream: next round
      const secret = this.#o.deps.secrets.openWebhookSecret(id, state.secretSealed);
      if (secret === null) {
        this.#o.log.error({ webhook: id }, 'webhook secret does not open (another MASTER_KEY?): not delivering');
        continue;
      }
      await this.#o.runner.add(webhookReactor(
        { id, url: state.url, secret, eventTypes: state.eventTypes, createdPosition: state.createdPosition },
        { ...this.#o, stats: this.stats },
      ));
      this.#running.set(id, version);
    }
  }
}
