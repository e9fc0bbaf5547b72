/**
 * Read model `webhooks`: one row per endpoint, for the admin API and for the delivery
 * manager to know which endpoints run. Never the secret (it stays sealed in the event
 * stream). Rows are folded from the events in order; a replay leaves the same rows.
 */
import type { WebhookEvent } from '../../domain/events.js';
import type { Decoded } from '../../ports/events.js';
import type { SqlExecutor } from '../../ports/sql.js';
import type { Projection } from '../../ports/projections.js';
import type { TableNamer } from '../engine/tables.js';

export interface WebhookRow {
  id: string;
  url: string;
  event_types: string[];
  description: string;
  status: 'enabled' | 'disabled' | 'deleted';
  disabled_reason: string | null;
  created_at: Date;
  updated_at: Date;
  /** Position of WebhookCreated: deliveries start after it. */
  created_position: string;
  /** Position of the newest event of the endpoint: the delivery manager reloads it when this moves. */
  version: string;
}

export const WEBHOOK_TYPES: readonly WebhookEvent['type'][] = [
  'WebhookCreated', 'WebhookUpdated', 'WebhookDisabled', 'WebhookEnabled', 'WebhookDeleted', 'WebhookReplayRequested',
];
const TYPES: ReadonlySet<string> = new Set(WEBHOOK_TYPES);
const isWebhookEvent = (e: Decoded): e is Decoded<WebhookEvent> => TYPES.has(e.type);

export const WEBHOOK_COLUMNS = 'id, url, event_types, description, status, disabled_reason, created_at, updated_at, created_position, version';

function evolve(row: WebhookRow | undefined, e: Decoded<WebhookEvent>): WebhookRow | undefined {
  const at = e.occurredAt;
  const version = e.position.toString();
  if (e.type === 'WebhookCreated') {
    if (row) return row;
    const d = e.data;
    return {
      id: d.webhook_id, url: d.url, event_types: [...d.event_types], description: d.description, status: 'enabled',
      disabled_reason: null, created_at: at, updated_at: at, created_position: version, version,
    };
  }
  if (!row || row.status === 'deleted') return row;
  const next = { ...row, updated_at: at, version };
  switch (e.type) {
    case 'WebhookUpdated':
      return { ...next, url: e.data.url, event_types: [...e.data.event_types], description: e.data.description };
    case 'WebhookDisabled':
      return { ...next, status: 'disabled', disabled_reason: e.data.reason };
    case 'WebhookEnabled':
      return { ...next, status: 'enabled', disabled_reason: null };
    case 'WebhookDeleted':
      return { ...next, status: 'deleted' };
    case 'WebhookReplayRequested':
      return next;
  }
}

export const webhooksProjection: Projection = {
  name: 'webhooks',
  version: 1,
  tables: ['webhooks'],
  types: WEBHOOK_TYPES,

  async setup(tx: SqlExecutor, table: TableNamer): Promise<void> {
    await tx.query(`create table if not exists ${table('webhooks')} (
      id uuid primary key,
      url text not null,
      event_types text[] not null,
      description text not null,
      status text not null check (status in ('enabled', 'disabled', 'deleted')),
      disabled_reason text,
      created_at timestamptz not null,
      updated_at timestamptz not null,
      created_position bigint not null,
      version bigint not null
    )`);
  },

  async apply(tx: SqlExecutor, events: Decoded[], table: TableNamer): Promise<void> {
    const relevant = events.filter(isWebhookEvent);
    if (relevant.length === 0) return;
    const t = table('webhooks');
    const ids = [...new Set(relevant.map((e) => e.data.webhook_id.toLowerCase()))];
    const { rows } = await tx.query<WebhookRow>(`select ${WEBHOOK_COLUMNS} from ${t} where id = any($1::uuid[])`, [ids]);
    const byId = new Map(rows.map((r) => [r.id.toLowerCase(), { ...r, created_position: String(r.created_position), version: String(r.version) }]));
    const changed = new Map<string, WebhookRow>();
    for (const e of relevant) {
      const id = e.data.webhook_id.toLowerCase();
      const after = evolve(byId.get(id), e);
      if (after && after !== byId.get(id)) {
        byId.set(id, after);
        changed.set(id, after);
      }
    }
    if (changed.size === 0) return;
    await tx.query(
      `insert into ${t} (${WEBHOOK_COLUMNS})
       select ${WEBHOOK_COLUMNS} from jsonb_to_recordset($1::jsonb) as r(
         id uuid, url text, event_types text[], description text, status text, disabled_reason text,
         created_at timestamptz, updated_at timestamptz, created_position bigint, version bigint)
       on conflict (id) do update set url = excluded.url, event_types = excluded.event_types,
         description = excluded.description, status = excluded.status, disabled_reason = excluded.disabled_reason,
         updated_at = excluded.updated_at, version = excluded.version`,
      [JSON.stringify([...changed.values()])]);
  },
};
