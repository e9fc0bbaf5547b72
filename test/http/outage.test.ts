/**
 * The backing store goes away under a running app (every connection to its database is
 * terminated and new ones are refused): endpoints that need it answer 503 unavailable as
 * problem+json, /health/ready says 503, requests that need no store are unaffected, and
 * when the database is back the service recovers by itself, without a restart.
 */
import t from 'tap';
import type { LightMyRequestResponse } from 'fastify';
import pg from 'pg';
import { buildTestApp } from '../helpers/app.js';
import { ADMIN_URL, createTestDatabase, usingServer } from '../helpers/db.js';
import { bearer, cheapHasher, expectProblem, getMe, parse, PASSWORD, post, register, sleep, uniqueEmail, type TokenBody } from '../helpers/http.js';
import { codeOf, enrolTotp, type MfaRequiredBody } from '../helpers/mfa.js';

const server = await usingServer();

t.test('the database goes down and comes back', { skip: server ? false : 'needs a PostgreSQL server to take down' }, async (t) => {
  const db = await createTestDatabase(t);
  const name = new URL(db.url ?? '').pathname.slice(1);
  const { app } = await buildTestApp(t, {}, { db, hasher: cheapHasher() });
  const a = await register(t, app);
  const b = await register(t, app);
  // A user with a second factor, half-way through signing in when the store goes.
  const m = await register(t, app);
  const totp = await enrolTotp(app, m.access_token);
  const mfaTicket = parse<MfaRequiredBody>(await post(app, '/v1/auth/login', { email: m.user.email, password: PASSWORD })).mfa_ticket;

  const admin = new pg.Client({ connectionString: ADMIN_URL });
  await admin.connect();
  t.teardown(async () => {
    await admin.query(`alter database ${name} allow_connections true`).catch(() => {});
    await admin.end();
  });
  const down = async () => {
    await admin.query(`alter database ${name} allow_connections false`);
    await admin.query('select pg_terminate_backend(pid) from pg_stat_activity where datname = $1 and pid <> pg_backend_pid()', [name]);
  };
  const up = () => admin.query(`alter database ${name} allow_connections true`);

  await down();

  t.test('while it is down: 503 unavailable wherever the store is needed', async (t) => {
    const needsStore: [string, () => Promise<LightMyRequestResponse>][] = [
      ['GET /v1/me', () => getMe(app, a.access_token)],
      ['PATCH /v1/me', () => app.inject({ method: 'PATCH', url: '/v1/me', headers: bearer(a.access_token), payload: { first_name: 'Down' } })],
      ['GET /v1/me/sessions', () => app.inject({ method: 'GET', url: '/v1/me/sessions', headers: bearer(a.access_token) })],
      ['GET /v1/me/activity', () => app.inject({ method: 'GET', url: '/v1/me/activity', headers: bearer(a.access_token) })],
      ['POST /v1/me/password', () => post(app, '/v1/me/password', { current_password: PASSWORD, new_password: 'another long passphrase' }, bearer(a.access_token))],
      ['DELETE /v1/me/sessions/:id', () => app.inject({ method: 'DELETE', url: `/v1/me/sessions/${b.session_id}`, headers: bearer(a.access_token) })],
      ['POST /v1/auth/register', () => post(app, '/v1/auth/register', { email: uniqueEmail('down'), password: PASSWORD })],
      ['POST /v1/auth/login', () => post(app, '/v1/auth/login', { email: a.user.email, password: PASSWORD })],
      ['POST /v1/auth/refresh', () => post(app, '/v1/auth/refresh', { refresh_token: a.refresh_token })],
      ['POST /v1/auth/logout', () => post(app, '/v1/auth/logout', { refresh_token: b.refresh_token })],
      ['POST /v1/auth/logout-all', () => post(app, '/v1/auth/logout-all', undefined, bearer(b.access_token))],
      ['DELETE /v1/me', () => app.inject({ method: 'DELETE', url: '/v1/me', headers: bearer(b.access_token), payload: { password: PASSWORD } })],
      ['GET /v1/me/mfa', () => app.inject({ method: 'GET', url: '/v1/me/mfa', headers: bearer(m.access_token) })],
      ['POST /v1/me/mfa/totp', () => post(app, '/v1/me/mfa/totp', { password: PASSWORD }, bearer(m.access_token))],
      ['POST /v1/auth/login/mfa', () => post(app, '/v1/auth/login/mfa', { mfa_ticket: mfaTicket, code: codeOf(totp.secret) })],
    ];
    for (const [label, request] of needsStore) {
      const res = await request();
      const body = expectProblem(t, res, 503, 'unavailable', label);
      t.ok(res.headers['retry-after'], `${label}: Retry-After`);
      t.notMatch(body.detail, /authstream_t_|postgres|ECONN|terminat/i, `${label}: no internals in the detail`);
    }

    const ready = await app.inject({ method: 'GET', url: '/health/ready' });
    t.equal(ready.statusCode, 503);
    const r = parse<{ event_store: { ok: boolean }; read_db: { ok: boolean } }>(ready);
    t.equal(r.event_store.ok, false);
    t.equal(r.read_db.ok, false);

    t.equal((await app.inject({ method: 'GET', url: '/health/live' })).statusCode, 200, 'the process is alive');
    t.equal((await app.inject({ method: 'GET', url: '/metrics' })).statusCode, 200, 'metrics are still scraped');
    expectProblem(t, await post(app, '/v1/auth/register', { email: uniqueEmail(), password: 'short' }), 400, 'weak_password', 'bad input is still a 400');
    expectProblem(t, await getMe(app, 'x.y.z'), 401, 'invalid_token', 'a bad token is still a 401');
    expectProblem(t, await app.inject({ method: 'GET', url: '/v1/me' }), 401, 'unauthorized');
  });

  t.test('when it is back: the service recovers by itself', async (t) => {
    await up();
    let ready = 0;
    const deadline = Date.now() + 20_000;
    while (Date.now() < deadline) {
      ready = (await app.inject({ method: 'GET', url: '/health/ready' })).statusCode;
      if (ready === 200) break;
      await sleep(200);
    }
    t.equal(ready, 200, '/health/ready is 200 again');
    t.equal((await getMe(app, a.access_token)).statusCode, 200, 'reads work');
    const c = await register(t, app);
    t.equal((await getMe(app, c.access_token)).statusCode, 200, 'writes work, and the read models follow them');
    const refreshed = await post(app, '/v1/auth/refresh', { refresh_token: a.refresh_token });
    t.equal(refreshed.statusCode, 200, 'the refresh token refused during the outage was not spent');
    const next = parse<TokenBody>(refreshed);
    t.equal((await post(app, '/v1/auth/logout', { refresh_token: next.refresh_token })).statusCode, 204);
    expectProblem(t, await getMe(app, next.access_token), 401, 'invalid_token', 'revocation works again');
    const sessions = parse<{ sessions: unknown[] }>(await app.inject({ method: 'GET', url: '/v1/me/sessions', headers: bearer(b.access_token) }));
    t.equal(sessions.sessions.length, 1, 'b\'s session survived: the logout during the outage did nothing');
    const login = await post(app, '/v1/auth/login', { email: b.user.email, password: PASSWORD });
    t.equal(login.statusCode, 200);
    const stepped = await post(app, '/v1/auth/login/mfa', { mfa_ticket: mfaTicket, code: codeOf(totp.secret) });
    t.equal(stepped.statusCode, 200, 'the ticket and the code refused during the outage were not spent');
  });
});
