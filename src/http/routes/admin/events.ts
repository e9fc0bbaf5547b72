/**
 * /v1/admin/streams/:stream and /v1/admin/events: one stream's events, the global log in
 * order, and its live tail over SSE (sse.ts). Events are shown only through
 * src/infra/redact.ts.
 */
/**
 * /v1/admin/*: users, the event store (streams, the global log and its live SSE tail),
 * run-time settings and projections. Every route needs the role `admin`, checked once for
 * the whole plugin before anything else (401/403 come before any validation answer). Every
 * admin action is an event whose `actor_id` is the admin; the answer waits until the read
 * models include it. Events are shown only through src/infra/redact.ts.
 */
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import type { OutgoingHttpHeaders } from 'node:http';
import { NotFoundError, ValidationError } from '../../../domain/errors.js';
import type { RecordedEvent } from '../../../ports/eventStore.js';
import { eventViews } from '../../../infra/redact.js';
import type { Runtime } from '../../../composition/runtime.js';
import { EventsPage, EventsQuery, StreamPage, StreamParams, StreamQuery } from '../../schemas/admin.js';
import { EventTail } from './sse.js';
import { HttpProblem } from '../../problem.js';
import { errorResponses } from '../../schemas/common.js';

/** Stream names shown: no control characters, no `$` system streams. */
const STREAM = /^[^$\u0000-\u001f\u007f][^\u0000-\u001f\u007f]{0,199}$/;
const EVENT_TYPE = /^[^,\u0000-\u001f\u007f]{1,200}$/;
const MAX_TYPES = 100;
/** The largest position (or revision) a store hands out: PostgreSQL's int8, EventStoreDB's u64 (less "unknown"). */
const MAX_POSITION = { postgres: 2n ** 63n - 1n, eventstoredb: 2n ** 64n - 2n, memory: 2n ** 63n - 1n } as const;

/** A position or revision given as decimal digits, no larger than the store can hold. */
export function parseDecimal(text: string, path: string, max: bigint = MAX_POSITION.postgres): bigint {
  if (!/^[0-9]{1,20}$/.test(text) || BigInt(text) > max) {
    throw new ValidationError(path, `must be a whole number (decimal digits) from 0 to ${max}`);
  }
  return BigInt(text);
}

/** `types=a,b`: the event types to keep (none: all). */
export function parseTypes(text: string | undefined): string[] {
  if (text === undefined) return [];
  const types = [...new Set(text.split(',').map((t) => t.trim()).filter((t) => t !== ''))];
  if (types.length > MAX_TYPES) throw new ValidationError('/types', `at most ${MAX_TYPES} event types`);
  for (const type of types) {
    if (!EVENT_TYPE.test(type)) throw new ValidationError('/types', 'an event type is 1-200 characters, no control characters');
  }
  return types;
}

const wantsEventStream = (accept: string | undefined): boolean =>
  typeof accept === 'string' && /(^|,)\s*text\/event-stream\s*(;|,|$)/i.test(accept);

export const adminEventRoutes: FastifyPluginAsyncTypebox<{ runtime: Runtime }> = async (app, { runtime }) => {
  const { config, store, codec } = runtime;
  const security = [{ bearer: [] }];
  const tags = ['admin'];
  const view = (raws: readonly RecordedEvent[]) => eventViews(codec, raws);
  const tails = new Set<EventTail>();
  const decimal = (text: string, path: string): bigint => parseDecimal(text, path, MAX_POSITION[store.kind]);

  app.addHook('preClose', async () => {
    for (const tail of tails) tail.end('shutdown');
  });

  /// The event store

  app.get('/streams/:stream', {
    schema: {
      tags, security, summary: 'The events of one stream from revision `from` (inclusive), redacted',
      params: StreamParams,
      querystring: StreamQuery,
      response: { 200: StreamPage, ...errorResponses(400, 401, 403, 404, 503) },
    },
  }, async (request) => {
    const { stream } = request.params;
    if (!STREAM.test(stream)) throw new NotFoundError('stream');
    const from = decimal(request.query.from || '0', '/from');
    const limit = request.query.limit ?? 100;
    const raws = await store.readStream(stream, { fromRevision: from, maxCount: limit + 1 });
    if (raws.length === 0 && (from === 0n || (await store.readStream(stream, { maxCount: 1 })).length === 0)) {
      throw new NotFoundError('stream');
    }
    const page = raws.slice(0, limit);
    return { events: await view(page), next_from: raws[limit]?.revision.toString() ?? null };
  });

  app.get('/events', {
    schema: {
      tags, security,
      summary: 'All events in global order after position `from`; with Accept: text/event-stream, a live tail (SSE)',
      description: '`next_from` is the position of the last event when the page is full (`limit` events: there may be '
        + 'more), null when fewer were returned (the end of the store as of this read). SSE frames: `id: <position>`, '
        + '`event: <type>`, `data: <event JSON>`; `Last-Event-ID` resumes after that position.',
      querystring: EventsQuery,
      response: {
        200: {
          description: 'A page of events (JSON), or with Accept: text/event-stream the live tail',
          content: {
            'application/json': { schema: EventsPage },
            'text/event-stream': {
              schema: { type: 'string', description: 'SSE frames; `event: overflow` or `event: end` with `{ reason, last_event_id }` ends the stream' },
              example: 'id: 42\nevent: UserRegistered\ndata: {"id":"…","type":"UserRegistered","position":"42",…}\n\n',
            },
          },
        },
        ...errorResponses(400, 401, 403, 503),
      },
    },
  }, async (request, reply) => {
    const query = request.query;
    const types = parseTypes(query.types);
    let after = query.from ? decimal(query.from, '/from') : undefined;

    if (request.method !== 'GET' || !wantsEventStream(request.headers.accept)) {
      const limit = query.limit ?? 100;
      const raws = await store.readAll({ maxCount: limit, types, ...(after === undefined ? {} : { after }) });
      const last = raws.at(-1);
      return { events: await view(raws), next_from: raws.length === limit && last ? last.position.toString() : null };
    }

    // Last-Event-ID wins over `from`: an EventSource reconnects to the same URL with it.
    const lastEventId = request.headers['last-event-id'];
    if (typeof lastEventId === 'string' && lastEventId.trim() !== '') after = decimal(lastEventId.trim(), 'Last-Event-ID');
    const auth = request.auth;
    if (!auth) throw new HttpProblem('unauthorized', 'an Authorization: Bearer token is required');

    const headers: OutgoingHttpHeaders = {};
    for (const [name, value] of Object.entries(reply.getHeaders())) if (value !== undefined) headers[name] = value;
    const sliding = runtime.settings.current().sliding_access_tokens ? app.slidingAccessToken(auth) : undefined;
    if (sliding !== undefined) headers['x-new-access-token'] = sliding;
    reply.hijack();
    const res = reply.raw;
    res.writeHead(200, {
      ...headers,
      'content-type': 'text/event-stream; charset=utf-8',
      'cache-control': 'no-cache, no-store, no-transform',
      'x-accel-buffering': 'no',
      // Not reused after the tail ends, so a shutdown never waits on it.
      connection: 'close',
      'x-request-id': request.id,
    });
    res.flushHeaders();
    // Heartbeats keep the connection alive; the server's idle timeout must not cut it.
    request.raw.socket.setTimeout(0);

    const tail = new EventTail(res, {
      store, view, after, types,
      heartbeatMs: config.sseHeartbeatMs,
      maxBuffered: config.sseBufferEvents,
      check: () => {
        if (runtime.revocations.isRevoked(auth.sessionId)) return 'session_revoked';
        // Disabled, erased, password changed or a role revoked: the token no longer stands.
        if (!runtime.cutoffs.allows(auth.userId, auth.sessionId, auth.claims.urv)) return 'access_revoked';
        if (Date.now() >= auth.claims.exp * 1000) return 'token_expired';
        return null;
      },
      onError: (error) => request.log.error({ err: error }, 'event tail failed'),
    });
    tails.add(tail);
    res.on('close', () => tail.end('disconnected'));
    const reason = await tail.run();
    tails.delete(tail);
    request.log.info({ reason, last_event_id: tail.lastEventId }, 'event tail ended');
    return reply;
  });
};
