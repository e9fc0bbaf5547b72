/**
 * Events as commands, projections and views handle them: the context written into every
 * event's metadata, a decoded (decrypted) recorded event, and the codec port that turns
 * domain events into stored ones and back (infra/eventCodec.ts seals personal fields).
 */
import type { DomainEvent, Recorded } from '../domain/events.js';
import type { EventToAppend, RecordedEvent } from './eventStore.js';

/** Who and what caused an event: written into every event's metadata. */
export interface EventContext {
  now: Date;
  correlationId: string;
  causationId: string | null;
  actorId: string | null;
  requestId: string | null;
  ip: string | null;
  userAgent: string | null;
}

export interface EventMetadata {
  correlation_id: string | null;
  causation_id: string | null;
  actor_id: string | null;
  request_id: string | null;
  ip: string | null;
  user_agent: string | null;
  schema_version: number;
}

export type Decoded<E extends DomainEvent = DomainEvent> = Recorded<E> & {
  metadata: EventMetadata;
  /** The subject's key is gone: personal fields read as null or "". */
  shredded: boolean;
};

/** Domain events to stored events (personal fields sealed) and back. */
export interface EventEncoder {
  encode(event: DomainEvent, ctx: EventContext, id: string): Promise<EventToAppend>;
  /** null for an event type this version does not know. */
  decode(raw: RecordedEvent): Promise<Decoded | null>;
  decodeAll(raws: readonly RecordedEvent[]): Promise<Decoded[]>;
}

/** What batch readers (the projection engine) need of the codec. */
export type EventDecoder = Pick<EventEncoder, 'decodeAll'>;
