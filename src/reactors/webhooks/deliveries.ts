/**
 * The delivery log of webhooks: every attempt (event, attempt number, status, error,
 * time, when the next one is due), kept in `authstream.webhook_deliveries` for the admin
 * API. Operational data, like the reactors' checkpoints: not events (a backlog of 10,000
 * deliveries must not double the log). The newest 1,000 per endpoint are kept.
 */
import { migrate } from '../../infra/sql/migrate.js';
import type { Sql } from '../../ports/sql.js';

const T = 'authstream.webhook_deliveries';
const KEEP = 1000;

export async function migrateDeliveries(sql: Sql): Promise<void> {
  await migrate(sql, 'webhook-deliveries', [{
    version: 1,
    name: 'webhook deliveries',
    sql: `create table ${T} (
      id bigserial primary key,
      webhook_id uuid not null,
      event_id uuid not null,
      position bigint not null,
      attempt int not null,
      status_code int,
      error text,
      at timestamptz not null default now(),
      next_attempt_at timestamptz
    );
    create index webhook_deliveries_by_webhook on ${T} (webhook_id, id desc)`,
  }]);
}

export interface Delivery {
  webhookId: string;
  eventId: string;
  position: bigint;
  attempt: number;
  statusCode: number | null;
  error: string | null;
  nextAttemptAt: Date | null;
}

let recorded = 0;

export async function recordDelivery(sql: Sql, d: Delivery): Promise<void> {
  await sql.query(
    `insert into ${T} (webhook_id, event_id, position, attempt, status_code, error, next_attempt_at) values ($1, $2, $3, $4, $5, $6, $7)`,
    [d.webhookId, d.eventId, d.position.toString(), d.attempt, d.statusCode, d.error, d.nextAttemptAt]);
  if (++recorded % 500 === 0) {
    await sql.query(
      `delete from ${T} where webhook_id = $1 and id < (select id from ${T} where webhook_id = $1 order by id desc offset $2 limit 1)`,
      [d.webhookId, KEEP]);
  }
}

export interface DeliveryView {
  event_id: string;
  attempt: number;
  status_code: number | null;
  error: string | null;
  at: string;
  next_attempt_at: string | null;
}

export async function listDeliveries(sql: Sql, webhookId: string, limit = 100): Promise<DeliveryView[]> {
  const { rows } = await sql.query<{ event_id: string; attempt: number; status_code: number | null; error: string | null; at: Date; next: Date | null }>(
    `select event_id::text, attempt, status_code, error, at, next_attempt_at as next from ${T}
     where webhook_id = $1 order by id desc limit $2`, [webhookId, limit]);
  return rows.map((r) => ({
    event_id: r.event_id, attempt: r.attempt, status_code: r.status_code, error: r.error,
    at: new Date(r.at).toISOString(), next_attempt_at: r.next ? new Date(r.next).toISOString() : null,
  }));
}
