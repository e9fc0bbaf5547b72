/**
 * A poison event (one the read models cannot apply) is parked with its reason and stepped
 * over: the read models carry on with the events after it; an admin sees it, retries it
 * (still failing: 409) and skips it.
 */
import t from 'tap';
import { randomUUID } from 'node:crypto';
import { json } from '../helpers/app.js';
import { buildAdminApp, register } from '../helpers/admin.js';

void t.test('a poison event is parked, not a stall', async (t) => {
  const ctx = await buildAdminApp(t);
  const { app, auth, runtime } = ctx;
  // Written past the commands: a user id no read model (nor the key store) can take.
  const poison = await runtime.store.appendToStream(`user-poison-${randomUUID()}`, [{
    id: randomUUID(), type: 'UserEnabled', data: { user_id: 'not-a-uuid' }, metadata: {}, occurredAt: new Date(),
  }], { expectedRevision: 'no_stream' });

  const after = await register(app, { email: 'after-the-poison@example.com' });
  const deadline = Date.now() + 20_000;
  let found = false;
  while (!found && Date.now() < deadline) {
    const res = await app.inject({ method: 'GET', url: '/v1/admin/users?query=after-the-poison', headers: auth });
    found = json<{ users: { id: string }[] }>(res).users.some((u) => u.id === after.user.id);
    if (!found) await new Promise((r) => setTimeout(r, 100));
  }
  t.ok(found, 'an event after the poison one reached the read models');

  const status = json<{ parked_events: number }>(await app.inject({ method: 'GET', url: '/v1/admin/projections', headers: auth }));
  t.equal(status.parked_events, 1, 'the projection status counts it');
  const { parked } = json<{ parked: { position: string; type: string; reason: string; event_id: string }[] }>(
    await app.inject({ method: 'GET', url: '/v1/admin/projections/parked', headers: auth }));
  t.match(parked, [{ position: poison.position.toString(), type: 'UserEnabled', reason: /\S/ }]);
  t.notMatch(parked[0]?.reason ?? '', /not-a-uuid/, 'the reason names the error, not the event\'s values');
  const recorded = json<{ events: { type: string; data: Record<string, unknown>; metadata: Record<string, unknown> }[] }>(
    await app.inject({ method: 'GET', url: `/v1/admin/streams/parked-${poison.position}`, headers: auth }));
  t.match(recorded.events, [{
    type: 'EventParked',
    data: { position: poison.position.toString(), event_type: 'UserEnabled', event_id: parked[0]?.event_id, reason: parked[0]?.reason },
  }], 'and an EventParked event in the log, once');

  const retry = await app.inject({ method: 'POST', url: `/v1/admin/projections/parked/${poison.position}/retry`, headers: auth });
  t.equal(retry.statusCode, 409, 'still failing: 409 with the reason');
  const skip = await app.inject({ method: 'DELETE', url: `/v1/admin/projections/parked/${poison.position}`, headers: auth });
  t.equal(skip.statusCode, 204);
  const resolved = json<{ events: { type: string; data: Record<string, unknown>; metadata: Record<string, unknown> }[] }>(
    await app.inject({ method: 'GET', url: `/v1/admin/streams/parked-${poison.position}`, headers: auth }));
  t.match(resolved.events, [
    { type: 'EventParked' },
    { type: 'ParkedEventResolved', data: { position: poison.position.toString(), event_id: parked[0]?.event_id, outcome: 'skipped' },
      metadata: { actor_id: ctx.adminId } },
  ], 'the skip is an event too, with the admin as actor (the failed retry changed nothing)');
  t.equal(resolved.events.length, 2);
  t.equal((await app.inject({ method: 'DELETE', url: `/v1/admin/projections/parked/${poison.position}`, headers: auth })).statusCode, 404);
  t.equal((await app.inject({ method: 'POST', url: '/v1/admin/projections/parked/12/retry', headers: auth })).statusCode, 404);
  t.equal((await app.inject({ method: 'GET', url: '/v1/admin/projections/parked/x/retry', headers: auth })).statusCode < 500, true);
  t.same(json<{ parked: unknown[] }>(await app.inject({ method: 'GET', url: '/v1/admin/projections/parked', headers: auth })).parked, []);
});
