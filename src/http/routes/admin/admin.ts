/**
 * /v1/admin/*: users, the event store (streams, the global log and its live SSE tail),
 * run-time settings and projections. Every route needs the role `admin`, checked once for
 * the whole plugin before anything else (401/403 come before any validation answer). Every
 * admin action is an event whose `actor_id` is the admin; the answer waits until the read
 * models include it. Events are shown only through src/infra/redact.ts.
 */
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { Type } from '@sinclair/typebox';
import type { OutgoingHttpHeaders } from 'node:http';
import { changeSettings, disableUser, enableUser, grantRole, revokeRole } from '../../../commands/admin.js';
import { eraseUser } from '../../../commands/eraseUser.js';
import { NotFoundError, ValidationError } from '../../../domain/errors.js';
import type { SettingsValues } from '../../../domain/events.js';
import type { RecordedEvent } from '../../../ports/eventStore.js';
import { eventViews } from '../../../infra/redact.js';
import type { Runtime } from '../../../composition/runtime.js';
import {
  Accepted, AdminUser, EventsPage, EventsQuery, ProjectionList, ProjectionParams, RoleBody, SettingsPatch,
  SettingsView, StreamPage, StreamParams, StreamQuery, UserIdParams, UserPage, UserRoleParams, UsersQuery,
} from '../../schemas/admin.js';
import { Rebuilds } from './rebuilds.js';
import { EventTail } from './sse.js';
import { eventContext } from '../../context.js';
import { HttpProblem } from '../../problem.js';
import { errorResponses } from '../../schemas/common.js';
import { sessionView, userView } from '../../views.js';

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
/** Stream names shown: no control characters, no `$` system streams. */
const STREAM = /^[^$\u0000-\u001f\u007f][^\u0000-\u001f\u007f]{0,199}$/;
const EVENT_TYPE = /^[^,\u0000-\u001f\u007f]{1,200}$/;
const MAX_TYPES = 100;
/** The largest position (or revision) a store hands out: PostgreSQL's int8, EventStoreDB's u64 (less "unknown"). */
const MAX_POSITION = { postgres: 2n ** 63n - 1n, eventstoredb: 2n ** 64n - 2n } as const;

/** A user id from the path: a uuid, lower-cased, or 404 (there is no such user). */
function userIdOf(id: string): string {
  if (!UUID.test(id)) throw new NotFoundError('user');
  return id.toLowerCase();
}

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

export const adminRoutes: FastifyPluginAsyncTypebox<{ runtime: Runtime }> = async (app, { runtime }) => {
  const { deps, readModels, config, store, codec } = runtime;
  const caughtUp = (position: bigint | null) => runtime.readYourWrites(position);
  const view = (raws: readonly RecordedEvent[]) => eventViews(codec, raws);
  const security = [{ bearer: [] }];
  const tags = ['admin'];
  const rebuilds = new Rebuilds(runtime.projections, app.log);
  const tails = new Set<EventTail>();
  const decimal = (text: string, path: string): bigint => parseDecimal(text, path, MAX_POSITION[store.kind]);

  // The one role check of the admin API, before body parsing and validation.
  app.addHook('onRequest', app.requireRole('admin'));
  app.addHook('preClose', async () => {
    for (const tail of tails) tail.end('shutdown');
  });

  /// Users

  app.get('/users', {
    schema: {
      tags, security, summary: 'Search users (every status), oldest first, keyset-paginated',
      querystring: UsersQuery,
      response: { 200: UserPage, ...errorResponses(400, 401, 403, 503) },
    },
  }, async (request) => {
    const { query, limit, cursor } = request.query;
    const page = await readModels.searchUsers({ query: query ?? null, limit: limit ?? 50, cursor: cursor ?? null });
    return { users: page.users.map(userView), next_cursor: page.nextCursor };
  });

  app.get('/users/:id', {
    schema: {
      tags, security, summary: 'A user with their active sessions (an erased user: status "erased", no personal data)',
      params: UserIdParams,
      response: { 200: AdminUser, ...errorResponses(401, 403, 404, 503) },
    },
  }, async (request) => {
    const id = userIdOf(request.params.id);
    const user = await readModels.getUser(id);
    if (!user) throw new NotFoundError('user');
    const sessions = user.status === 'erased' ? [] : await readModels.listSessions(id, new Date());
    return {
      ...userView(user),
      sessions: sessions.map(sessionView),
    };
  });

  app.delete('/users/:id', {
    schema: {
      tags, security, summary: 'Erase a user (crypto-shredding of all their personal data)',
      params: UserIdParams,
      response: { 204: Type.Null(), ...errorResponses(401, 403, 404, 503) },
    },
  }, async (request, reply) => {
    const id = userIdOf(request.params.id);
    await caughtUp(await eraseUser(deps, { userId: id, password: null }, eventContext(request)));
    return reply.code(204).send(null);
  });

  app.post('/users/:id/disable', {
    schema: {
      tags, security, summary: 'Disable a user and revoke all their sessions',
      params: UserIdParams,
      response: { 204: Type.Null(), ...errorResponses(401, 403, 404, 503) },
    },
  }, async (request, reply) => {
    await caughtUp(await disableUser(deps, userIdOf(request.params.id), eventContext(request)));
    return reply.code(204).send(null);
  });

  app.post('/users/:id/enable', {
    schema: {
      tags, security, summary: 'Enable a disabled user',
      params: UserIdParams,
      response: { 204: Type.Null(), ...errorResponses(401, 403, 404, 503) },
    },
  }, async (request, reply) => {
    await caughtUp(await enableUser(deps, userIdOf(request.params.id), eventContext(request)));
    return reply.code(204).send(null);
  });

  app.post('/users/:id/roles', {
    schema: {
      tags, security, summary: 'Grant a role (idempotent)',
      params: UserIdParams,
      body: RoleBody,
      response: { 204: Type.Null(), ...errorResponses(400, 401, 403, 404, 503) },
    },
  }, async (request, reply) => {
    await caughtUp(await grantRole(deps, userIdOf(request.params.id), request.body.role, eventContext(request)));
    return reply.code(204).send(null);
  });

  app.delete('/users/:id/roles/:role', {
    schema: {
      tags, security, summary: 'Revoke a role (idempotent)',
      params: UserRoleParams,
      response: { 204: Type.Null(), ...errorResponses(400, 401, 403, 404, 503) },
    },
  }, async (request, reply) => {
    await caughtUp(await revokeRole(deps, userIdOf(request.params.id), request.params.role, eventContext(request)));
    return reply.code(204).send(null);
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
      response: { 200: EventsPage, ...errorResponses(400, 401, 403, 503) },
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
    if (runtime.settings.current().sliding_access_tokens) {
      headers['x-new-access-token'] = app.signAccessToken({ userId: auth.userId, sessionId: auth.sessionId, roles: auth.roles }).token;
    }
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

  /// Settings

  const settingsView = (s: SettingsValues) => ({
    access_token_ttl_seconds: s.access_token_ttl_seconds,
    refresh_token_ttl_seconds: s.refresh_token_ttl_seconds,
    sliding_access_tokens: s.sliding_access_tokens,
  });

  app.get('/settings', {
    schema: { tags, security, summary: 'The effective run-time settings', response: { 200: SettingsView, ...errorResponses(401, 403) } },
  }, async () => settingsView(runtime.settings.current()));

  app.patch('/settings', {
    schema: {
      tags, security,
      summary: 'Change run-time settings: new tokens use them at once, on every instance (a SettingsChanged event)',
      body: SettingsPatch,
      response: { 200: SettingsView, ...errorResponses(400, 401, 403, 409, 503) },
    },
  }, async (request) => {
    const { settings, position } = await changeSettings(deps, runtime.settings.defaults, request.body, eventContext(request));
    const values = settingsView(settings);
    runtime.settings.set(values, position);
    return values;
  });

  /// Projections

  app.get('/projections', {
    schema: {
      tags, security, summary: 'Position and lag of every projection and in-memory consumer on this instance',
      response: { 200: ProjectionList, ...errorResponses(401, 403, 503) },
    },
  }, async () => {
    const status = await runtime.projections.status();
    return {
      projections: status.map((p) => ({
        name: p.name,
        kind: p.kind,
        position: p.position.toString(),
        head: p.head.toString(),
        lag_events: p.lag_events,
        lag_capped: p.lag_capped,
        lag_ms: Math.round(p.lag_ms),
        rebuilding: rebuilds.isRunning(p.name),
      })),
    };
  });

  app.post('/projections/:name/rebuild', {
    schema: {
      tags, security,
      summary: 'Rebuild a SQL projection in the background from the first event (swapped in atomically when done)',
      params: ProjectionParams,
      response: { 202: Accepted, ...errorResponses(401, 403, 404, 409, 503) },
    },
  }, async (request, reply) => {
    await rebuilds.start(request.params.name);
    return reply.code(202).send({ name: request.params.name, status: 'rebuilding' as const });
  });
};
