/**
 * The live tail of GET /v1/admin/events (Server-Sent Events) over a real listening server:
 * catch-up then live, resume with Last-Event-ID (exactly the following events), `types`,
 * heartbeats, the end of the stream on revocation and shutdown, disconnects. The overflow
 * of a client that does not drain is tested on EventTail with a sink that never drains.
 */
import t from 'tap';
import { randomUUID } from 'node:crypto';
import { EventEmitter } from 'node:events';
import type { BatchHandler, EventStore, RecordedEvent, Subscription } from '../../../../src/ports/eventStore.js';
import { EventTail, sseFrame, type SseSink } from '../../../../src/http/routes/admin/sse.js';
import type { EventView } from '../../../../src/infra/redact.js';
import { json } from '../../../helpers/app.js';
import {
  bearer, buildAdminApp, createAndLogin, frameEvent, httpGet, login, openSse, readBody, register, type AdminApp, type SseFrame,
} from '../../../helpers/admin.js';

const isEvent = (f: SseFrame): boolean => f.id !== undefined;

async function allEvents(ctx: AdminApp, query = ''): Promise<EventView[]> {
  const out: EventView[] = [];
  let from: string | null = null;
  do {
    const url: string = `/v1/admin/events?limit=1000${query}${from ? `&from=${from}` : ''}`;
    const page = json<{ events: EventView[]; next_from: string | null }>(await ctx.app.inject({ method: 'GET', url, headers: ctx.auth }));
    out.push(...page.events);
    from = page.next_from;
  } while (from);
  return out;
}

t.test('SSE tail over a listening server', async (t) => {
  const ctx = await buildAdminApp(t, { SSE_HEARTBEAT_MS: '100' });
  const { app, auth } = ctx;
  for (let i = 0; i < 4; i++) await register(app, { email: `sse${i}@example.com`, first_name: `Name${i}` });
  const address = await app.listen({ port: 0, host: '127.0.0.1' });
  const url = `${address}/v1/admin/events`;

  await t.test('catch-up from the start, then live events as they are appended', async (t) => {
    const history = await allEvents(ctx);
    const sse = await openSse(url, auth);
    t.teardown(() => sse.close());
    t.equal(sse.status, 200);
    t.match(sse.headers['content-type'], /^text\/event-stream/);
    t.equal(sse.headers['cache-control'], 'no-cache, no-store, no-transform');
    await sse.until((frames) => frames.filter(isEvent).length >= history.length);
    const caught = sse.frames.filter(isEvent);
    t.same(caught.map((f) => f.id), history.map((e) => e.position), 'every event once, in order, id = position');
    t.same(caught.map((f) => f.event), history.map((e) => e.type), 'event: the type');
    t.same(caught.map(frameEvent), history, 'data: the same JSON as GET /events');

    const live = await register(app, { email: 'live@example.com' });
    await sse.until((frames) => frames.some((f) => f.event === 'UserRegistered' && frameEvent(f).data.user_id === live.user.id));
    const after = await allEvents(ctx);
    await sse.until((frames) => frames.filter(isEvent).length >= after.length);
    t.same(sse.frames.filter(isEvent).map((f) => f.id), after.map((e) => e.position), 'live events follow, none lost or repeated');
    await sse.until((_frames, comments) => comments.includes('ping'), 2000);
    t.ok(sse.comments.includes('ping'), 'heartbeat comments');
  });

  await t.test('resume with Last-Event-ID: exactly the events that follow', async (t) => {
    const history = await allEvents(ctx);
    t.ok(history.length > 12);
    const first = await openSse(url, auth);
    await first.until((frames) => frames.filter(isEvent).length >= 5);
    first.close();
    await first.ended;
    const read = first.frames.filter(isEvent).slice(0, 5);
    t.same(read.map((f) => f.id), history.slice(0, 5).map((e) => e.position));
    const lastId = read.at(-1)?.id ?? '';

    const appended = await register(app, { email: 'while-away@example.com' });
    const expected = await allEvents(ctx, `&from=${lastId}`);
    t.ok(expected.some((e) => e.data.user_id === appended.user.id), 'an event appended while disconnected');
    // `from` is ignored when Last-Event-ID is given (an EventSource reconnects to the same URL).
    const second = await openSse(`${url}?from=0`, { ...auth, 'last-event-id': lastId });
    t.teardown(() => second.close());
    await second.until((frames) => frames.filter(isEvent).length >= expected.length);
    t.same(second.frames.filter(isEvent).map((f) => f.id), expected.map((e) => e.position), 'no gap, no repeat');
    t.equal(second.frames.filter(isEvent)[0]?.id, history[5]?.position);

    const fromQuery = await openSse(`${url}?from=${history[9]?.position}`, auth);
    t.teardown(() => fromQuery.close());
    await fromQuery.until((frames) => frames.filter(isEvent).length >= 1);
    t.equal(fromQuery.frames.filter(isEvent)[0]?.id, history[10]?.position, '`from` starts after that position');
  });

  await t.test('`types` filters the catch-up and the live tail', async (t) => {
    const target = await register(app, { email: 'typed@example.com' });
    const sse = await openSse(`${url}?types=UserDisabled,UserEnabled`, auth);
    t.teardown(() => sse.close());
    await new Promise((r) => setTimeout(r, 150));
    for (const action of ['disable', 'enable']) {
      const res = await app.inject({ method: 'POST', url: `/v1/admin/users/${target.user.id}/${action}`, headers: auth });
      t.equal(res.statusCode, 204);
    }
    await sse.until((frames) => frames.some((f) => f.event === 'UserEnabled'));
    const types = new Set(sse.frames.filter(isEvent).map((f) => f.event));
    t.same([...types].sort(), ['UserDisabled', 'UserEnabled'], 'only the asked types');
    t.match(frameEvent(sse.frames.filter(isEvent).at(-1) as SseFrame), { type: 'UserEnabled', data: { user_id: target.user.id }, metadata: { actor_id: ctx.adminId } });
  });

  await t.test('errors before the stream starts are problem+json', async (t) => {
    const sse = { accept: 'text/event-stream' };
    const none = await httpGet(url, sse);
    t.equal(none.statusCode, 401);
    t.match(none.headers['content-type'], /application\/problem\+json/);
    await readBody(none);
    const plain = await register(app, { email: 'plain-sse@example.com' });
    const forbidden = await httpGet(url, { ...sse, ...bearer(plain) });
    t.equal(forbidden.statusCode, 403);
    t.equal((JSON.parse(await readBody(forbidden)) as { code: string }).code, 'forbidden');
    for (const id of ['abc', '-1', '99999999999999999999']) {
      const bad = await httpGet(url, { ...sse, 'last-event-id': id, ...auth });
      t.equal(bad.statusCode, 400, `Last-Event-ID ${id}`);
      await readBody(bad);
    }
    const badTypes = await httpGet(`${url}?types=${encodeURIComponent('a\u0001b')}`, { ...sse, ...auth });
    t.equal(badTypes.statusCode, 400);
    await readBody(badTypes);
  });

  await t.test('a disconnect ends the tail on the server', async (t) => {
    const sse = await openSse(url, auth);
    await sse.until((frames) => frames.filter(isEvent).length > 0);
    sse.close();
    await sse.ended;
    const deadline = Date.now() + 5000;
    while (!ctx.logs.some((l) => l.includes('"reason":"disconnected"')) && Date.now() < deadline) {
      await new Promise((r) => setTimeout(r, 20));
    }
    t.ok(ctx.logs.some((l) => l.includes('event tail ended') && l.includes('"reason":"disconnected"')), 'the subscription was stopped');
  });

  await t.test('the stream ends when the admin session is revoked', async (t) => {
    const other = await login(app, ctx.admin.user.email ?? '');
    const sse = await openSse(url, bearer(other));
    t.teardown(() => sse.close());
    await sse.until((frames) => frames.filter(isEvent).length > 0);
    const out = await app.inject({ method: 'POST', url: '/v1/auth/logout', payload: { refresh_token: other.refresh_token } });
    t.equal(out.statusCode, 204);
    await sse.until((frames) => frames.some((f) => f.event === 'end'), 5000);
    await sse.ended;
    const end = sse.frames.find((f) => f.event === 'end');
    t.match(JSON.parse(end?.data ?? '{}'), { reason: 'session_revoked', last_event_id: /^[0-9]+$/ });
  });
  await t.test('the stream ends when the admin loses the admin role', async (t) => {
    const deputy = await createAndLogin(app, ctx.runtime, 'deputy-sse@example.com', ['user', 'admin']);
    const sse = await openSse(url, bearer(deputy));
    t.teardown(() => sse.close());
    await sse.until((frames) => frames.filter(isEvent).length > 0);
    const revoke = await app.inject({ method: 'DELETE', url: `/v1/admin/users/${deputy.user.id}/roles/admin`, headers: auth });
    t.equal(revoke.statusCode, 204);
    await sse.until((frames) => frames.some((f) => f.event === 'end'), 5000);
    await sse.ended;
    const end = sse.frames.find((f) => f.event === 'end');
    t.match(JSON.parse(end?.data ?? '{}'), { reason: 'access_revoked' }, 'no decrypted personal data streams on to a former admin');
  });
});

t.test('shutdown ends open tails with `event: end`', async (t) => {
  const ctx = await buildAdminApp(t, { SSE_HEARTBEAT_MS: '1000' });
  const address = await ctx.app.listen({ port: 0, host: '127.0.0.1' });
  const sse = await openSse(`${address}/v1/admin/events`, ctx.auth);
  await sse.until((frames) => frames.filter(isEvent).length > 0);
  await ctx.app.close();
  await sse.ended;
  t.match(JSON.parse(sse.frames.find((f) => f.event === 'end')?.data ?? '{}'), { reason: 'shutdown' });
});

/// EventTail with a fake store and sink

class FakeSink extends EventEmitter implements SseSink {
  chunks: string[] = [];
  ended = false;
  destroyed = false;
  /** Writes accepted before the sink reports back-pressure (and never drains). */
  capacity: number;
  constructor(capacity: number) {
    super();
    this.capacity = capacity;
  }
  get writableNeedDrain(): boolean {
    return this.chunks.filter((c) => c.startsWith('id:')).length >= this.capacity;
  }
  write(chunk: string): boolean {
    this.chunks.push(chunk);
    return !this.writableNeedDrain;
  }
  end(): void {
    this.ended = true;
  }
  drainAll(extra: number): void {
    this.capacity += extra;
    this.emit('drain');
  }
}

function recorded(position: number): RecordedEvent {
  return {
    id: randomUUID(), streamId: 'test', type: 'UserEnabled', revision: BigInt(position), position: BigInt(position),
    occurredAt: new Date(0), recordedAt: new Date(0), data: { user_id: 'u' }, metadata: {},
  };
}

function fakeStore(history: RecordedEvent[]) {
  const handlers: BatchHandler[] = [];
  let stopped = 0;
  const store: Pick<EventStore, 'readAll' | 'subscribeToAll' | 'headPosition'> = {
    async readAll({ after, maxCount }) {
      return history.filter((e) => after === undefined || e.position > after).slice(0, maxCount);
    },
    async headPosition() {
      return history.at(-1)?.position ?? 0n;
    },
    subscribeToAll(handler): Subscription {
      handlers.push(handler);
      let resolve!: () => void;
      const done = new Promise<void>((r) => {
        resolve = r;
      });
      return {
        done,
        async stop() {
          stopped += 1;
          resolve();
        },
      };
    },
  };
  return { store, handlers, stopped: () => stopped };
}

const view = async (raws: readonly RecordedEvent[]): Promise<EventView[]> => raws.map((r) => ({
  id: r.id, stream_id: r.streamId, type: r.type, revision: r.revision.toString(), position: r.position.toString(),
  occurred_at: r.occurredAt.toISOString(), data: r.data, metadata: {
    correlation_id: null, causation_id: null, actor_id: null, request_id: null, ip: null, user_agent: null, schema_version: 1,
  },
}));

const flush = () => new Promise((r) => setImmediate(r));

t.test('EventTail: a client that does not drain gets `overflow` with its last position, then the end', async (t) => {
  const history = [1, 2, 3].map(recorded);
  const { store, handlers, stopped } = fakeStore(history);
  const sink = new FakeSink(5);
  const tail = new EventTail(sink, { store, view, after: undefined, types: [], heartbeatMs: 60_000, maxBuffered: 4 });
  const done = tail.run();
  while (handlers.length === 0) await flush();
  t.equal(sink.chunks.length, 3, 'the catch-up is written');
  const handler = handlers[0];
  if (!handler) throw new Error('no subscription');
  await handler([4, 5].map(recorded)); // 4 and 5 fit the socket, then it backs up
  t.equal(tail.buffered, 0);
  await handler([6, 7, 8].map(recorded));
  t.equal(tail.buffered, 3, 'buffered while the socket is backed up');
  t.notOk(tail.closed);
  await handler([9, 10].map(recorded));
  t.equal(await done, 'overflow');
  t.ok(sink.ended, 'the stream ends');
  t.equal(stopped(), 1, 'the subscription is stopped');
  const last = sink.chunks.at(-1) ?? '';
  t.match(last, /^event: overflow\ndata: /);
  t.same(JSON.parse(last.split('data: ')[1] ?? '{}'), { last_event_id: '5', dropped: 5 });
  t.same(sink.chunks.filter((c) => c.startsWith('id:')).map((c) => c.split('\n')[0]), ['id: 1', 'id: 2', 'id: 3', 'id: 4', 'id: 5']);
});

t.test('EventTail: a slow client that drains is never dropped, and the catch-up waits for it', async (t) => {
  const history = Array.from({ length: 50 }, (_, i) => recorded(i + 1));
  const { store, handlers } = fakeStore(history);
  const sink = new FakeSink(10);
  const tail = new EventTail(sink, { store, view, after: 20n, types: [], heartbeatMs: 60_000, maxBuffered: 3, pageSize: 7 });
  const done = tail.run();
  await flush();
  t.equal(sink.chunks.length, 10, 'the catch-up stops at the back-pressure');
  while (handlers.length === 0) {
    sink.drainAll(10);
    await flush();
  }
  t.same(sink.chunks.map((c) => c.split('\n')[0]), history.slice(20).map((e) => `id: ${e.position}`), 'events after 20, in order');
  const handler = handlers[0];
  if (!handler) throw new Error('no subscription');
  sink.capacity = Number.MAX_SAFE_INTEGER;
  await handler(Array.from({ length: 100 }, (_, i) => recorded(51 + i)));
  t.equal(tail.buffered, 0, 'a batch larger than the buffer is fine when the socket takes it');
  t.notOk(tail.closed);
  tail.end('disconnected');
  t.equal(await done, 'disconnected');
  t.notOk(sink.ended, 'nothing written to a client that is gone');
  t.equal(tail.lastEventId, '150');
});

t.test('EventTail: heartbeats, and `check` ends the stream', async (t) => {
  const { store } = fakeStore([]);
  const sink = new FakeSink(100);
  let reason: 'token_expired' | null = null;
  const tail = new EventTail(sink, { store, view, after: 7n, types: [], heartbeatMs: 20, maxBuffered: 10, check: () => reason });
  const done = tail.run();
  await new Promise((r) => setTimeout(r, 70));
  t.ok(sink.chunks.filter((c) => c === ': ping\n\n').length >= 2, 'pings');
  reason = 'token_expired';
  t.equal(await done, 'token_expired');
  t.same(JSON.parse((sink.chunks.at(-1) ?? '').split('data: ')[1] ?? '{}'), { reason: 'token_expired', last_event_id: '7' });
});

t.test('sseFrame keeps a foreign type on one line', async (t) => {
  const [event] = await view([{ ...recorded(1), type: 'Evil\nevent: x' }]);
  if (!event) throw new Error('no event');
  t.match(sseFrame(event), /^id: 1\nevent: Evil event: x\ndata: \{.*\}\n\n$/);
});
