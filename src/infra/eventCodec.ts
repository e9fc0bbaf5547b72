/**
 * Maps domain events to stored events and back. Personal fields (PERSONAL_FIELDS) and the
 * request's ip and user agent are sealed into `pii` envelopes with the subject user's data
 * key; the rest of the event stays readable for audit. Once the key is destroyed, decoding
 * yields null/empty personal fields and `shredded: true`. A PSEUDONYMOUS event (the streams
 * named by an identifier's hash) names its user only by the key's reference (`holder`) and
 * seals its correlation, causation, actor and request ids too.
 */
import {
  PERSONAL_FIELDS, PSEUDONYMOUS, isEventType, subjectOf,
  type DomainEvent,
} from '../domain/events.js';
import type { EventToAppend, JsonObject, JsonValue, RecordedEvent } from '../ports/eventStore.js';
import type { Decoded, EventContext, EventEncoder } from '../ports/events.js';
import { open, seal } from './crypto.js';
import type { KeyStore } from '../ports/keyStore.js';

export const SCHEMA_VERSION = 1;

const LINK_IDS = ['correlation_id', 'causation_id', 'actor_id', 'request_id'] as const;

export class EventCodec implements EventEncoder {
  readonly #keys: KeyStore;
  constructor(keys: KeyStore) {
    this.#keys = keys;
  }

  async encode(event: DomainEvent, ctx: EventContext, id: string): Promise<EventToAppend> {
    let subject = subjectOf(event);
    const key = subject === null ? null : await this.#keys.get(subject);
    if (PSEUDONYMOUS.has(event.type) && key === null && subject !== null) {
      // A holder whose key is gone can no longer be named: the event is written without them.
      event = { ...event, data: { ...event.data, user_id: null } } as DomainEvent;
      subject = null;
    }
    const personal = PERSONAL_FIELDS[event.type];
    const data: JsonObject = {};
    const secret: JsonObject = {};
    for (const [k, v] of Object.entries(event.data as Record<string, JsonValue>)) {
      if (personal.includes(k)) secret[k] = v;
      else data[k] = v;
    }
    const pseudonymous = PSEUDONYMOUS.has(event.type) && subject !== null;
    // An event with no user (a failed login of an unknown identifier) has nothing to seal.
    const nothingPersonal = subject === null && Object.values(secret).every((v) => v === null);
    if (personal.length > 0 && !nothingPersonal) {
      if (!key || subject === null) throw new Error(`no data key for ${subject ?? 'an event without subject'}`);
      data.pii = seal(key, Buffer.from(JSON.stringify(secret)), subject);
    }
    if (pseudonymous && subject !== null) {
      const ref = await this.#keys.refOf(subject);
      if (ref === null) throw new Error(`no data key for ${subject}`);
      data.holder = ref;
    }
    const ids: JsonObject = {
      correlation_id: ctx.correlationId,
      causation_id: ctx.causationId,
      actor_id: ctx.actorId,
      request_id: ctx.requestId,
    };
    const metadata: JsonObject = { ...(pseudonymous ? nullIds() : ids), schema_version: SCHEMA_VERSION };
    // ip and user agent are personal data: kept only under a user's key, dropped otherwise.
    const sealed: JsonObject = { ...(pseudonymous ? ids : {}) };
    if (ctx.ip !== null || ctx.userAgent !== null) Object.assign(sealed, { ip: ctx.ip, user_agent: ctx.userAgent });
    if (key && subject !== null && Object.keys(sealed).length > 0) {
      metadata.pii = seal(key, Buffer.from(JSON.stringify(sealed)), subject);
    }
    return { id, type: event.type, data, metadata, occurredAt: ctx.now };
  }

  /** Decodes one of our events; null for an event type we do not know. */
  async decode(raw: RecordedEvent): Promise<Decoded | null> {
    if (!isEventType(raw.type)) return null;
    const { pii, holder, ...visible } = raw.data;
    const subject = typeof visible.user_id === 'string' ? visible.user_id
      : typeof holder === 'string' ? await this.#keys.userOfRef(holder) : null;
    const key = subject === null ? null : await this.#keys.get(subject);
    let shredded = holder !== undefined && key === null;
    const data: Record<string, JsonValue> = { ...visible };
    const personal = PERSONAL_FIELDS[raw.type];
    if (personal.length > 0) {
      const opened = typeof pii === 'string' && key && subject ? open(key, pii, subject) : null;
      if (opened) Object.assign(data, JSON.parse(opened.toString('utf8')) as JsonObject);
      else if (subject === null && pii === undefined) {
        for (const f of personal) data[f] ??= null; // an event with no user: nothing was sealed
      } else {
        shredded = true;
        for (const f of personal) data[f] = f === 'email' || f === 'phone' || f === 'user_id' ? null : '';
      }
    }
    const m = raw.metadata;
    let sealed: JsonObject = {};
    if (typeof m.pii === 'string') {
      const opened = key && subject ? open(key, m.pii, subject) : null;
      if (opened) sealed = JSON.parse(opened.toString('utf8')) as JsonObject;
      else shredded = true;
    }
    const str = (v: JsonValue | undefined): string | null => (typeof v === 'string' ? v : null);
    const id = (name: (typeof LINK_IDS)[number]): string | null => str(m[name]) ?? str(sealed[name]);
    const ip = str(sealed.ip);
    const userAgent = str(sealed.user_agent);
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
        correlation_id: id('correlation_id'),
        causation_id: id('causation_id'),
        actor_id: id('actor_id'),
        request_id: id('request_id'),
        ip,
        user_agent: userAgent,
        schema_version: typeof m.schema_version === 'number' ? m.schema_version : SCHEMA_VERSION,
      },
      shredded,
    } as Decoded;
  }

  async decodeAll(raws: readonly RecordedEvent[]): Promise<Decoded[]> {
    // The batch's keys and references in one lookup, not one per user (a bulk import's
    // events each have a user the cache has not seen yet).
    const users: string[] = [];
    const refs: string[] = [];
    for (const { data } of raws) {
      if (typeof data.user_id === 'string') users.push(data.user_id);
      else if (typeof data.holder === 'string') refs.push(data.holder);
    }
    if (raws.length > 1) await this.#keys.warm(users, refs);
    const out: Decoded[] = [];
    for (const raw of raws) {
      const d = await this.decode(raw);
      if (d) out.push(d);
    }
    return out;
  }
}

function nullIds(): JsonObject {
  return Object.fromEntries(LINK_IDS.map((k) => [k, null]));
}
