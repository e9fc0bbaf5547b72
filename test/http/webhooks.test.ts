/**
 * Webhooks end to end: endpoints managed through the admin API, deliveries signed (checked
 * with the Standard Webhooks library), in order per endpoint, retried while a receiver is
 * down, a failing endpoint delaying only itself and disabled after too long, re-enabled
 * from its checkpoint, replayed on request; erasure honoured; a rebuild sends nothing.
 */
import t from 'tap';
import { randomUUID } from 'node:crypto';
import { json } from '../helpers/app.js';
import { bearer, register } from '../helpers/admin.js';
import { buildWebhookApp, startReceiver, subscribe, type WebhookApp } from '../helpers/webhooks.js';
import { allProjections } from '../../src/projections/index.js';

const email = (tag: string): string => `${tag}-${randomUUID().slice(0, 8)}@example.com`;
const hooks = (a: WebhookApp) => ({
  get: (path = '') => a.app.inject({ method: 'GET', url: `/v1/admin/webhooks${path}`, headers: a.auth }),
  post: (payload: object, path = '') => a.app.inject({ method: 'POST', url: `/v1/admin/webhooks${path}`, headers: a.auth, payload }),
  patch: (id: string, payload: object) => a.app.inject({ method: 'PATCH', url: `/v1/admin/webhooks/${id}`, headers: a.auth, payload }),
});

void t.test('managing endpoints: validation, the secret shown once, events with the admin as actor', async (t) => {
  const a = await buildWebhookApp(t);
  const receiver = await startReceiver(t);
  const h = hooks(a);
  for (const [payload, why] of [
    [{ url: 'ftp://example.com/x', event_types: ['*'] }, 'not http(s)'],
    [{ url: 'https://169.254.169.254/latest', event_types: ['*'] }, 'cloud metadata'],
    [{ url: 'https://[fe80::1]/x', event_types: ['*'] }, 'link-local'],
    [{ url: 'http://example.com/x', event_types: ['*'] }, 'http to a host that is not loopback'],
    [{ url: 'https://user:pw@example.com/x', event_types: ['*'] }, 'credentials in the URL'],
    [{ url: receiver.url, event_types: [] }, 'no event types'],
    [{ url: receiver.url, event_types: ['NoSuchEvent'] }, 'an unknown event type'],
    [{ url: receiver.url, event_types: ['*', 'UserRegistered'] }, '"*" with others'],
    [{ url: receiver.url, event_types: ['*'], secret: 'mine' }, 'an unknown field'],
  ] as const) {
    const res = await h.post(payload);
    t.equal(res.statusCode, 400, why);
  }
  const created = await h.post({ url: receiver.url, event_types: ['UserRegistered', 'UserDisabled'], description: 'CRM sync' });
  t.equal(created.statusCode, 201);
  const body = json<{ id: string; secret: string; status: string; event_types: string[] }>(created);
  t.match(body, { status: 'enabled', event_types: ['UserRegistered', 'UserDisabled'], secret: /^whsec_[A-Za-z0-9+/]{43}=$/ });
  const listed = await h.get();
  t.notOk(listed.body.includes(body.secret), 'the list never shows the secret');
  t.notOk((await h.get(`/${body.id}`)).body.includes('whsec_'), 'nor the endpoint view');
  const stream = await a.app.inject({ method: 'GET', url: `/v1/admin/streams/webhook-${body.id}`, headers: a.auth });
  t.match(json<{ events: unknown[] }>(stream).events, [{ type: 'WebhookCreated', data: { url: receiver.url }, metadata: { actor_id: a.admin.user.id } }]);
  t.notOk(stream.body.includes('secret_sealed'), 'the sealed secret is not shown either');
  const raw = JSON.stringify(await a.runtime.store.readAll({ maxCount: 10_000 }), (_k, v: unknown) => (typeof v === 'bigint' ? `${v}` : v));
  t.notOk(raw.includes(body.secret), 'no event holds the secret in clear');

  const patched = await h.patch(body.id, { event_types: ['*'], description: 'all of it' });
  t.match(json(patched), { event_types: ['*'], description: 'all of it', status: 'enabled' });
  t.equal((await h.patch(body.id, { url: 'https://169.254.169.254/' })).statusCode, 400);
  t.equal((await h.patch(randomUUID(), { description: 'x' })).statusCode, 404);
  t.equal((await a.app.inject({ method: 'DELETE', url: `/v1/admin/webhooks/${body.id}`, headers: a.auth })).statusCode, 204);
  t.equal((await h.get(`/${body.id}`)).statusCode, 404, 'deleted');
  const user = await register(a.app, { email: email('not-admin') });
  t.equal((await a.app.inject({ method: 'GET', url: '/v1/admin/webhooks', headers: bearer(user) })).statusCode, 403);
});

void t.test('deliveries: signed, in order, the admin feed\'s view; a receiver down gets everything once when back', async (t) => {
  const a = await buildWebhookApp(t);
  const receiver = await startReceiver(t);
  const hook = await subscribe(a, receiver, ['UserRegistered', 'UserDisabled', 'UserErased']);
  const users = [];
  for (let i = 0; i < 3; i++) users.push(await register(a.app, { email: email(`hook${i}`), first_name: `Name${i}` }));
  await receiver.until((r) => r.length >= 3);
  t.ok(receiver.received.every((r) => r.verified), 'every signature verifies with the Standard Webhooks library');
  t.strictSame(receiver.received.map((r) => (r.body.data.data as { user_id: string }).user_id), users.map((u) => u.user.id), 'in log order');
  const feed = json<{ events: { id: string }[] }>(await a.app.inject({ method: 'GET', url: '/v1/admin/events?types=UserRegistered&limit=1000', headers: a.auth }));
  const first = receiver.received[0];
  t.strictSame(first?.body.data, feed.events.find((e) => e.id === first?.id), 'data: the event as GET /v1/admin/events shows it');
  t.equal(first?.id, first?.body.data.id, 'webhook-id is the event id');
  t.match(first?.body.data.data, { first_name: 'Name0' }, 'personal data decrypted while the user exists');

  receiver.status = 503;
  const more = [];
  for (let i = 0; i < 3; i++) more.push(await register(a.app, { email: email(`down${i}`) }));
  await new Promise((resolve) => setTimeout(resolve, 1500));
  const deliveries = json<{ deliveries: { status_code: number; attempt: number; next_attempt_at: string | null }[] }>(
    await hooks(a).get(`/${hook.id}/deliveries`));
  t.ok(deliveries.deliveries.some((d) => d.status_code === 503 && d.attempt >= 2 && d.next_attempt_at !== null), 'failures recorded, retried');
  receiver.status = 204;
  await receiver.until((r) => r.length >= 6);
  await new Promise((resolve) => setTimeout(resolve, 300));
  const ids = receiver.received.map((r) => r.id);
  t.equal(new Set(ids).size, ids.length, 'each webhook-id once');
  t.strictSame(receiver.received.slice(3).map((r) => (r.body.data.data as { user_id: string }).user_id), more.map((u) => u.user.id), 'in order after the outage');

  // Erasure: an erased user's events go out without their personal data.
  receiver.status = 503;
  const leaver = await register(a.app, { email: email('leaver'), first_name: 'Leaving' });
  // An attempt decodes the event when it starts: one that began before the erasure may carry
  // the data it read then. Let one more attempt start (and fail) after the erasure first.
  const attemptsOf = async (): Promise<number> => {
    const list = json<{ deliveries: { event_id: string; attempt: number }[] }>(await hooks(a).get(`/${hook.id}/deliveries`)).deliveries;
    return Math.max(0, ...list.filter((d) => d.event_id === leaverRegistered).map((d) => d.attempt));
  };
  const leaverRegistered = json<{ events: { id: string }[] }>(
    await a.app.inject({ url: `/v1/admin/streams/user-${leaver.user.id}`, headers: a.auth })).events[0]?.id;
  const erased = await a.app.inject({ method: 'DELETE', url: `/v1/admin/users/${leaver.user.id}`, headers: a.auth });
  t.equal(erased.statusCode, 204);
  const attemptsAtErasure = await attemptsOf();
  for (const deadline = Date.now() + 20_000; (await attemptsOf()) < attemptsAtErasure + 2 && Date.now() < deadline;) {
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  receiver.status = 204;
  await receiver.until((r) => r.some((x) => x.type === 'UserErased'));
  const reg = receiver.received.find((r) => r.type === 'UserRegistered' && (r.body.data.data as { user_id: string }).user_id === leaver.user.id);
  t.match(reg?.body.data.data, { email: null, first_name: null }, 'registered before the erasure, delivered after it: no personal data');

  // A rebuild sends nothing.
  const count = receiver.received.length;
  for (const p of allProjections()) await a.runtime.projections.rebuild(p.name);
  await new Promise((resolve) => setTimeout(resolve, 500));
  t.equal(receiver.received.length, count, 'rebuilding every projection delivered nothing again');

  // Replay on request: the same events again, same ids, in order.
  const replay = await hooks(a).post({ after_position: '0' }, `/${hook.id}/replay`);
  t.equal(replay.statusCode, 202);
  await receiver.until((r) => r.length >= count * 2);
  t.strictSame(receiver.received.slice(count, count * 2).map((r) => r.id), receiver.received.slice(0, count).map((r) => r.id), 'replayed in order, same webhook-ids');
});

void t.test('a failing endpoint delays only itself, is disabled after too long, and resumes from its checkpoint', async (t) => {
  const a = await buildWebhookApp(t, { WEBHOOK_DISABLE_AFTER_SECONDS: '2' });
  const bad = await startReceiver(t);
  const good = await startReceiver(t);
  bad.status = 500;
  const failing = await subscribe(a, bad, ['UserRegistered']);
  await subscribe(a, good, ['UserRegistered']);
  const users = [];
  for (let i = 0; i < 3; i++) users.push(await register(a.app, { email: email(`mix${i}`) }));
  await good.until((r) => r.length >= 3);
  t.equal(bad.received.length, 0, 'the healthy endpoint got everything while the other fails');
  const deadline = Date.now() + 15_000;
  let view = json<{ status: string; disabled_reason: string | null }>(await hooks(a).get(`/${failing.id}`));
  while (view.status !== 'disabled' && Date.now() < deadline) {
    await new Promise((resolve) => setTimeout(resolve, 100));
    view = json(await hooks(a).get(`/${failing.id}`));
  }
  t.match(view, { status: 'disabled', disabled_reason: 'failing' }, 'disabled after failing for longer than allowed');
  const stream = json<{ events: { type: string; data: { reason?: string } }[] }>(
    await a.app.inject({ method: 'GET', url: `/v1/admin/streams/webhook-${failing.id}`, headers: a.auth }));
  t.match(stream.events.at(-1), { type: 'WebhookDisabled', data: { reason: 'failing' } }, 'itself an event');
  bad.status = 204;
  t.equal((await hooks(a).patch(failing.id, { status: 'enabled' })).statusCode, 200);
  await bad.until((r) => r.length >= 3);
  t.strictSame(bad.received.map((r) => (r.body.data.data as { user_id: string }).user_id), users.map((u) => u.user.id),
    're-enabled, it resumes from its checkpoint: everything, in order');
});

void t.test('two instances on one database: no double delivery', async (t) => {
  const one = await buildWebhookApp(t, { MASTER_KEY: Buffer.alloc(32, 7).toString('base64') });
  const two = await buildWebhookApp(t, { MASTER_KEY: Buffer.alloc(32, 7).toString('base64') }, one.db);
  const receiver = await startReceiver(t);
  await subscribe(one, receiver, ['UserRegistered']);
  two.runtime.webhooks.nudge();
  const users = [];
  for (let i = 0; i < 6; i++) users.push(await register((i % 2 ? one : two).app, { email: email(`pair${i}`) }));
  await receiver.until((r) => r.length >= 6);
  await new Promise((resolve) => setTimeout(resolve, 1500));
  const ids = receiver.received.map((r) => r.id);
  t.equal(ids.length, 6, 'six events, six deliveries');
  t.equal(new Set(ids).size, 6);
});
