/**
 * Maps domain events to stored events and back. Personal fields (PERSONAL_FIELDS) and the
 * request's ip and user agent are sealed into `pii` envelopes with the subject user's data
 * key; the rest of the event stays readable for audit. Once the key is destroyed, decoding
 * yields null/empty personal fields and `shredded: true`.
 */
import {
  PERSONAL_FIELDS, isEventType, subjectOf,
  type DomainEvent,
} from '../domain/events.js';
import type { EventToAppend, JsonObject, JsonValue, RecordedEvent } from '../ports/eventStore.js';
import type { Decoded, EventContext, EventEncoder } from '../ports/events.js';
import { open, seal } from './crypto.js';
import type { KeyStore } from '../ports/keyStore.js';

export const SCHEMA_VERSION = 1;

export class EventCodec implements EventEncoder {
  readonly #keys: KeyStore;
  constructor(keys: KeyStore) {
    this.#keys = keys;
  }

  async encode(event: DomainEvent, ctx: EventContext, id: string): Promise<EventToAppend> {
    const subject = subjectOf(event);
    const key = subject === null ? null : await this.#keys.get(subject);
    const personal = PERSONAL_FIELDS[event.type];
    const data: JsonObject = {};
    const secret: JsonObject = {};
    for (const [k, v] of Object.entries(event.data as Record<string, JsonValue>)) {
      if (personal.includes(k)) secret[k] = v;
      else data[k] = v;
    }
    if (personal.length > 0) {
      if (!key || subject === null) throw new Error(`no data key for ${subject ?? 'an event without subject'}`);
      data.pii = seal(key, Buffer.from(JSON.stringify(secret)), subject);
    }
    const metadata: JsonObject = {
      correlation_id: ctx.correlationId,
      causation_id: ctx.causationId,
      actor_id: ctx.actorId,
      request_id: ctx.requestId,
      schema_version: SCHEMA_VERSION,
    };
    // ip and user agent are personal data: kept only under a user's key, dropped otherwise.
    if (key && subject !== null && (ctx.ip !== null || ctx.userAgent !== null)) {
      metadata.pii = seal(key, Buffer.from(JSON.stringify({ ip: ctx.ip, user_agent: ctx.userAgent })), subject);
    }
    return { id, type: event.type, data, metadata, occurredAt: ctx.now };
  }

  /** Decodes one of our events; null for an event type we do not know. */
  async decode(raw: RecordedEvent): Promise<Decoded | null> {
    if (!isEventType(raw.type)) return null;
    const { pii, ...visible } = raw.data;
    const subject = typeof visible.user_id === 'string' ? visible.user_id : null;
    const key = subject === null ? null : await this.#keys.get(subject);
    let shredded = false;
    const data: Record<string, JsonValue> = { ...visible };
    const personal = PERSONAL_FIELDS[raw.type];
    if (personal.length > 0) {
      const opened = typeof pii === 'string' && key && subject ? open(key, pii, subject) : null;
      if (opened) Object.assign(data, JSON.parse(opened.toString('utf8')) as JsonObject);
      else {
        shredded = true;
        for (const f of personal) data[f] = f === 'email' || f === 'phone' ? null : '';
      }
    }
    const m = raw.metadata;
    let ip: string | null = null;
    let userAgent: string | null = null;
    if (typeof m.pii === 'string') {
      const opened = key && subject ? open(key, m.pii, subject) : null;
      if (opened) {
        const p = JSON.parse(opened.toString('utf8')) as { ip: string | null; user_agent: string | null };
        ip = p.ip;
        userAgent = p.user_agent;
      } else shredded = true;
    }
    const str = (v: JsonValue | undefined): string | null => (typeof v === 'string' ? v : null);
    return {
      type: raw.type,
      data,
      id: raw.id,
      streamId: raw.streamId,
      revision: raw.revision,
      position: raw.position,
      occurredAt: raw.occurredAt,
      recordedAt: raw.recordedAt,
      metadata: {
        correlation_id: str(m.correlation_id),
        causation_id: str(m.causation_id),
        actor_id: str(m.actor_id),
        request_id: str(m.request_id),
        ip,
        user_agent: userAgent,
        schema_version: typeof m.schema_version === 'number' ? m.schema_version : SCHEMA_VERSION,
      },
      shredded,
    } as Decoded;
  }

  async decodeAll(raws: readonly RecordedEvent[]): Promise<Decoded[]> {
    const out: Decoded[] = [];
    for (const raw of raws) {
      const d = await this.decode(raw);
      if (d) out.push(d);
    }
    return out;
  }
}
