/**
 * A 10,000-event backlog drains to a webhook endpoint, in order and once each, while logins
 * and refreshes go on being answered: delivery runs beside the requests, not in their way.
 * (Timings are printed as comments; speed is measured in `npm run bench`, not asserted.)
 */
import t from 'tap';
import { randomUUID } from 'node:crypto';
import { performance } from 'node:perf_hooks';
import { loginsStream, type LoginAttemptStarted } from '../../src/domain/events.js';
import { json } from '../helpers/app.js';
import { PASSWORD, register } from '../helpers/admin.js';
import { buildWebhookApp, startReceiver, subscribe } from '../helpers/webhooks.js';

const BACKLOG = 10_000;
const PER_APPEND = 100;

void t.test('a 10,000-event backlog drains without blocking login or refresh', async (t) => {
  const a = await buildWebhookApp(t, { LOGIN_RATE_PER_IP_PER_MINUTE: '100000', LOGIN_MAX_FAILURES: '1000' });
  const receiver = await startReceiver(t);
  const address = `drain-${randomUUID().slice(0, 8)}@example.com`;
  let tokens = await register(a.app, { email: address });
  const hook = await subscribe(a, receiver, ['LoginAttemptStarted']);
  const [created] = await a.runtime.store.readStream(`webhook-${hook.id}`);

  const started = performance.now();
  for (let i = 0; i < BACKLOG / PER_APPEND; i++) {
    const stream = loginsStream(randomUUID().replace(/-/g, ''));
    const events = await Promise.all(Array.from({ length: PER_APPEND }, () => {
      const e: LoginAttemptStarted = { type: 'LoginAttemptStarted', data: { attempt_id: randomUUID(), kind: 'email', via: 'login', user_id: null } };
      return a.runtime.codec.encode(e, {
        now: new Date(), correlationId: randomUUID(), causationId: null, actorId: null, requestId: null, ip: null, userAgent: null,
      }, randomUUID());
    }));
    await a.runtime.store.appendToStream(stream, events, { expectedRevision: 'no_stream' });
  }
  t.comment(`${BACKLOG} events appended in ${Math.round(performance.now() - started)} ms`);

  // While the endpoint drains the backlog, sign in and refresh again and again.
  const times: number[] = [];
  let answered = 0;
  for (let i = 0; i < 400 && receiver.received.length < BACKLOG; i++) {
    const t0 = performance.now();
    const login = await a.app.inject({ method: 'POST', url: '/v1/auth/login', payload: { email: address, password: PASSWORD } });
    const refresh = await a.app.inject({ method: 'POST', url: '/v1/auth/refresh', payload: { refresh_token: tokens.refresh_token } });
    times.push(performance.now() - t0);
    if (login.statusCode === 200 && refresh.statusCode === 200) answered += 1;
    tokens = json(refresh);
  }
  t.ok(times.length > 10, `${times.length} login + refresh pairs while the backlog drained`);
  t.equal(answered, times.length, 'every login and refresh answered 200 during the drain');
  t.comment(`login + refresh during the drain: median ${times.sort((x, y) => x - y)[Math.floor(times.length / 2)]?.toFixed(1)} ms`);

  // The backlog, and the login attempts made meanwhile (LoginAttemptStarted too).
  const expected = (await a.runtime.store.readAll({ after: created?.position ?? 0n, maxCount: 100_000, types: ['LoginAttemptStarted'] })).length;
  t.equal(expected, BACKLOG + times.length, 'the backlog and one attempt per login made meanwhile');
  await receiver.until((r) => r.length >= expected, 180_000);
  t.comment(`drained in ${Math.round(performance.now() - started)} ms`);
  const positions = receiver.received.map((r) => BigInt(r.body.data.position));
  t.ok(positions.every((p, i) => i === 0 || p > (positions[i - 1] ?? 0n)), 'in log order');
  const ids = receiver.received.map((r) => r.id);
  t.equal(new Set(ids).size, ids.length, 'each event once');
  t.equal(ids.length, expected);
  t.ok(receiver.received.every((r) => r.verified), 'every signature verifies');
});
