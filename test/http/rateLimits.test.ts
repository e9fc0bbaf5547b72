/**
 * Per-IP limits: the password endpoints draw on one budget; with REDIS_URL two instances
 * share it (the real Redis on 127.0.0.1:6379, under a key prefix of this test's own);
 * with Redis unreachable requests still go through (the per-account throttle still holds).
 */
import t from 'tap';
import { randomUUID } from 'node:crypto';
import { Redis } from 'ioredis';
import { buildTestApp } from '../helpers/app.js';
import { cheapHasher, post, uniqueEmail } from '../helpers/http.js';
import { freePort } from '../helpers/instances.js';

const REDIS_URL = process.env.TEST_REDIS_URL ?? 'redis://127.0.0.1:6379';
const redisUp = await (async () => {
  const probe = new Redis(REDIS_URL, { lazyConnect: true, connectTimeout: 500, maxRetriesPerRequest: 0 });
  probe.on('error', () => {});
  try {
    await probe.connect();
    await probe.ping();
    return true;
  } catch {
    return false;
  } finally {
    probe.disconnect();
  }
})();

const guess = (app: Parameters<typeof post>[0], i: number) => post(app, '/v1/auth/login', { email: uniqueEmail(`nobody${i}`), password: 'wrong guess 1' });

void t.test('login, the OAuth password grant and the /v1/me checks count in one budget', async (t) => {
  const { app } = await buildTestApp(t, { LOGIN_RATE_PER_IP_PER_MINUTE: '4' }, { hasher: cheapHasher() });
  t.equal((await guess(app, 1)).statusCode, 401);
  t.equal((await guess(app, 2)).statusCode, 401);
  const grant = await app.inject({
    method: 'POST', url: '/oauth/token', headers: { 'content-type': 'application/x-www-form-urlencoded' },
    payload: new URLSearchParams({ grant_type: 'password', username: uniqueEmail('x'), password: 'wrong guess 2' }).toString(),
  });
  t.equal(grant.statusCode, 400, 'the password grant: invalid_grant');
  const reg = await post(app, '/v1/auth/register', { email: uniqueEmail('reg'), password: 'a perfectly fine password' });
  t.equal(reg.statusCode, 201, 'registration has a budget of its own');
  const token = (JSON.parse(reg.body) as { access_token: string }).access_token;
  const change = await app.inject({
    method: 'POST', url: '/v1/me/password', headers: { authorization: `Bearer ${token}` },
    payload: { current_password: 'not my password', new_password: 'a brand new password' },
  });
  t.equal(change.statusCode, 401, 'a password change with a wrong current password');
  const fifth = await guess(app, 5);
  t.equal(fifth.statusCode, 429, 'the fifth attempt in the minute, whichever endpoint');
  t.ok(Number(fifth.headers['retry-after']) >= 1, 'with Retry-After');
});

void t.test('with REDIS_URL, two instances share the per-IP budget', { skip: redisUp ? false : `no Redis at ${REDIS_URL}` }, async (t) => {
  const env = { LOGIN_RATE_PER_IP_PER_MINUTE: '5', REDIS_URL, REDIS_KEY_PREFIX: `authstream-test:${randomUUID()}:` };
  const a = await buildTestApp(t, env, { hasher: cheapHasher() });
  const b = await buildTestApp(t, { ...env, MASTER_KEY: a.config.masterKey ?? '' }, { hasher: cheapHasher(), db: a.db });
  const answers: number[] = [];
  for (let i = 0; i < 6; i++) answers.push((await guess(i % 2 === 0 ? a.app : b.app, i)).statusCode);
  t.same(answers, [401, 401, 401, 401, 401, 429], 'the sixth attempt is refused, though each instance saw three');
  const keys = new Redis(REDIS_URL);
  t.teardown(() => keys.disconnect());
  t.ok((await keys.keys(`${env.REDIS_KEY_PREFIX}*`)).length > 0, 'the counters live in Redis under the prefix');
});

void t.test('with Redis unreachable, requests go through', async (t) => {
  const port = await freePort(); // nothing listens there
  const { app } = await buildTestApp(t, { REDIS_URL: `redis://127.0.0.1:${port}`, LOGIN_RATE_PER_IP_PER_MINUTE: '2' }, { hasher: cheapHasher() });
  for (let i = 0; i < 3; i++) t.equal((await guess(app, i)).statusCode, 401, `attempt ${i + 1}: answered, not 5xx`);
});
