/**
 * Two instances on one database: a settings change made on A reaches B through the event
 * subscription (B issues tokens with the new lifetime), and a projection rebuild started
 * over the API never shows readers a half-built read model.
 */
import t from 'tap';
import { randomUUID } from 'node:crypto';
import { userStream, type DomainEvent } from '../../../../src/domain/events.js';
import type { EventToAppend } from '../../../../src/ports/eventStore.js';
import type { EventContext } from '../../../../src/ports/events.js';
import { buildTestApp, json } from '../../../helpers/app.js';
import { buildAdminApp, createAndLogin, fastHasher, login } from '../../../helpers/admin.js';

t.test('a settings change on instance A is seen by instance B', async (t) => {
  const a = await buildAdminApp(t);
  const b = await buildTestApp(t, { MASTER_KEY: a.config.masterKey ?? '' }, { db: a.db, hasher: fastHasher });
  await createAndLogin(b.app, b.runtime, 'reader@example.com', ['user']);
  t.equal((await login(b.app, 'reader@example.com')).expires_in, 300, 'B starts with the default');

  const patch = await a.app.inject({ method: 'PATCH', url: '/v1/admin/settings', headers: a.auth, payload: { access_token_ttl_seconds: 42, refresh_token_ttl_seconds: 7200 } });
  t.equal(patch.statusCode, 200, patch.body);
  t.equal((await login(a.app, 'reader@example.com')).expires_in, 42, 'A at once');

  const deadline = Date.now() + 10_000;
  let seen = 0;
  for (;;) {
    const tokens = await login(b.app, 'reader@example.com');
    seen = tokens.expires_in;
    if (seen === 42 || Date.now() > deadline) break;
    await new Promise((r) => setTimeout(r, 50));
  }
  t.equal(seen, 42, 'B issues tokens with the new lifetime');
  const refresh = json<{ refresh_expires_in: number }>(await b.app.inject({ method: 'POST', url: '/v1/auth/login', payload: { email: 'reader@example.com', password: 'correct horse battery staple' } }));
  t.ok(refresh.refresh_expires_in <= 7200 && refresh.refresh_expires_in > 7000, 'and the new refresh lifetime');
  t.same(b.runtime.settings.current(), { access_token_ttl_seconds: 42, refresh_token_ttl_seconds: 7200, sliding_access_tokens: false, refresh_reuse_grace_seconds: 0, mfa_required_roles: [] });
});

t.test('a rebuild under concurrent reads never shows a half-built model', async (t) => {
  const ctx = await buildAdminApp(t);
  const { app, auth, runtime } = ctx;
  const USERS = 300;
  const FILLER = 3000;

  // A store with a few thousand events, appended directly (no hashing, few round trips).
  const now = new Date();
  const context: EventContext = { now, correlationId: randomUUID(), causationId: null, actorId: null, requestId: null, ip: '192.0.2.1', userAgent: 'seed' };
  for (let i = 0; i < USERS; i += 25) {
    await Promise.all(Array.from({ length: Math.min(25, USERS - i) }, async (_, j) => {
      const userId = randomUUID();
      await runtime.keys.create(userId);
      const event: DomainEvent = {
        type: 'UserRegistered',
        data: {
          user_id: userId, email: `seed${i + j}@example.com`, phone: null, first_name: `Seed${i + j}`, last_name: 'Rebuild',
          password_hash: '$argon2id$v=19$m=1024,t=1,p=1$c2VlZA$c2VlZA', roles: ['user'],
        },
      };
      const encoded = await runtime.codec.encode(event, { ...context, actorId: userId }, randomUUID());
      await runtime.store.appendToStream(userStream(userId), [encoded], { expectedRevision: 'no_stream' });
    }));
  }
  const filler: EventToAppend[] = [];
  for (let i = 0; i < FILLER; i++) {
    filler.push(await runtime.codec.encode({ type: 'LoginFailed', data: { user_id: null, kind: 'email', reason: 'unknown_identifier' } }, context, randomUUID()));
  }
  for (let i = 0; i < FILLER; i += 1000) {
    await runtime.store.appendToStream(`logins-seed${i}`, filler.slice(i, i + 1000), { expectedRevision: 'no_stream' });
  }
  // Everything committed (lastPosition: the head subscribers see may still be held back by a
  // transaction open elsewhere in the cluster), and with time for it.
  const seeded = await runtime.store.lastPosition();
  t.ok(await runtime.projections.waitFor(seeded, 30_000), 'the read models have the seed');
  const total = USERS + 1; // and the admin

  const count = async (): Promise<number> => {
    const res = await app.inject({ method: 'GET', url: '/v1/admin/users?limit=500&query=', headers: auth });
    if (res.statusCode !== 200) throw new Error(`${res.statusCode} ${res.body}`);
    return json<{ users: unknown[] }>(res).users.length;
  };
  t.equal(await count(), total, 'before');

  const started = await app.inject({ method: 'POST', url: '/v1/admin/projections/users/rebuild', headers: auth });
  t.equal(started.statusCode, 202, started.body);
  const conflict = await app.inject({ method: 'POST', url: '/v1/admin/projections/users/rebuild', headers: auth });
  t.equal(conflict.statusCode, 409, 'a second rebuild while the first runs');

  // Readers run continuously (four at a time) until the rebuild is over.
  const counts: number[] = [];
  let rebuilding = true;
  let readsWhileRebuilding = 0;
  const reader = async (): Promise<void> => {
    while (rebuilding) {
      counts.push(await count());
      if (rebuilding) readsWhileRebuilding += 1;
    }
  };
  const readers = Promise.all([reader(), reader(), reader(), reader()]);
  const deadline = Date.now() + 60_000;
  while (rebuilding && Date.now() < deadline) {
    const status = json<{ projections: { name: string; rebuilding: boolean }[] }>(
      await app.inject({ method: 'GET', url: '/v1/admin/projections', headers: auth }));
    rebuilding = status.projections.some((p) => p.name === 'users' && p.rebuilding);
    await new Promise((r) => setTimeout(r, 10));
  }
  rebuilding = false;
  await readers;
  t.ok(Date.now() < deadline, 'the rebuild finished');
  t.ok(readsWhileRebuilding >= 4, `reads ran while the rebuild did (${readsWhileRebuilding} of ${counts.length})`);
  t.same([...new Set(counts)], [total], 'every read saw every user');
  t.equal(await count(), total, 'after');
  const one = json<{ users: { email: string }[] }>(await app.inject({ method: 'GET', url: '/v1/admin/users?query=seed123@', headers: auth }));
  t.same(one.users.map((u) => u.email), ['seed123@example.com'], 'the rebuilt model has the decrypted data');
});
