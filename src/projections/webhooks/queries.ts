/** Reads of the webhooks read model: the admin API's views and the delivery manager's list. */
import { isUuid } from '../../lib/uuid.js';
import type { SqlExecutor } from '../../ports/sql.js';
import { liveTable } from '../engine/tables.js';
import { WEBHOOK_COLUMNS, type WebhookRow } from './projection.js';

const WEBHOOKS = liveTable('webhooks');

const normal = (r: WebhookRow): WebhookRow => ({ ...r, created_position: String(r.created_position), version: String(r.version) });

/** Every endpoint that is not deleted, oldest first. */
export async function listWebhooks(db: SqlExecutor): Promise<WebhookRow[]> {
  const { rows } = await db.query<WebhookRow>(
    `select ${WEBHOOK_COLUMNS} from ${WEBHOOKS} where status <> 'deleted' order by created_at, id`);
  return rows.map(normal);
}

export async function getWebhook(db: SqlExecutor, id: string): Promise<WebhookRow | null> {
  if (!isUuid(id)) return null;
  const { rows } = await db.query<WebhookRow>(`select ${WEBHOOK_COLUMNS} from ${WEBHOOKS} where id = $1 and status <> 'deleted'`, [id]);
  return rows[0] ? normal(rows[0]) : null;
}
