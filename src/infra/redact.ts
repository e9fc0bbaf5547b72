/**
 * The one redaction of events for operators: the admin API (JSON and SSE) and the CLI
 * show events only through `eventView`. What an event's `data` may show is an allow-list
 * per event type (VISIBLE_FIELDS): password hashes, refresh-token hashes and the sealed
 * `pii` envelopes are on no list, so a field added to an event later stays hidden until
 * someone decides it may be shown. Personal data is shown decrypted while the subject's
 * data key exists and as null once it has been shredded. Metadata is an allow-list too.
 * Events of types that are not ours are shown with `data: {}`.
 */
import { PERSONAL_FIELDS, VISIBLE_FIELDS, isEventType } from '../domain/events.js';
import type { JsonObject, JsonValue, RecordedEvent } from '../ports/eventStore.js';
import type { Decoded, EventMetadata } from '../ports/events.js';

/** The metadata operators see: the fields every event carries (schema_version null for foreign events). */
export type EventMetadataView = Omit<EventMetadata, 'schema_version'> & { schema_version: number | null };

/** An event as operators see it. Positions and revisions are decimal strings (64-bit safe). */
export interface EventView {
  id: string;
  stream_id: string;
  type: string;
  revision: string;
  position: string;
  occurred_at: string;
  data: JsonObject;
  metadata: EventMetadataView;
}

/** What eventView needs of the EventCodec. */
export interface EventDecoder {
  decode(raw: RecordedEvent): Promise<Decoded | null>;
}

const str = (v: JsonValue | undefined): string | null => (typeof v === 'string' ? v : null);

/**
 * The operator's view of one stored event. `decoded` is the codec's decoding of `raw`
 * (null for a type that is not ours); nothing of `raw.data` is shown but through it.
 */
export function eventView(raw: RecordedEvent, decoded: Decoded | null): EventView {
  const data: JsonObject = {};
  let metadata: EventMetadataView;
  if (decoded && isEventType(decoded.type)) {
    const values = decoded.data as unknown as Record<string, JsonValue | undefined>;
    const personal = PERSONAL_FIELDS[decoded.type];
    for (const field of VISIBLE_FIELDS[decoded.type]) {
      const value = values[field];
      if (personal.includes(field)) {
        // A shredded field reads as null, never as the codec's placeholder ("").
        data[field] = decoded.shredded || value === undefined ? null : value;
      } else if (value !== undefined) {
        data[field] = value;
      }
    }
    const m = decoded.metadata;
    metadata = {
      correlation_id: m.correlation_id,
      causation_id: m.causation_id,
      actor_id: m.actor_id,
      request_id: m.request_id,
      ip: m.ip,
      user_agent: m.user_agent,
      schema_version: m.schema_version,
    };
  } else {
    const m = raw.metadata;
    metadata = {
      correlation_id: str(m.correlation_id),
      causation_id: str(m.causation_id),
      actor_id: str(m.actor_id),
      request_id: str(m.request_id),
      ip: null,
      user_agent: null,
      schema_version: typeof m.schema_version === 'number' ? m.schema_version : null,
    };
  }
  return {
    id: raw.id,
    stream_id: raw.streamId,
    type: raw.type,
    revision: raw.revision.toString(),
    position: raw.position.toString(),
    occurred_at: raw.occurredAt.toISOString(),
    data,
    metadata,
  };
}

/** The operator's view of an event already decoded (webhook payloads). */
export function decodedView(decoded: Decoded): EventView {
  return eventView({ ...decoded, data: {}, metadata: {} } as unknown as RecordedEvent, decoded);
}

/** Decodes and redacts events, in order. */
export async function eventViews(codec: EventDecoder, raws: readonly RecordedEvent[]): Promise<EventView[]> {
  const out: EventView[] = [];
  for (const raw of raws) out.push(eventView(raw, await codec.decode(raw)));
  return out;
}
