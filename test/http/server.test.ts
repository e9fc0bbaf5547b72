/**
 * Through a real listening server (fetch over TCP, not inject): the happy flow end to end,
 * and the concurrency guarantees — one winner among parallel registrations of one email,
 * parallel refreshes of one token, and parallel email changes to one address.
 */
import t from 'tap';
import { connect } from 'node:net';
import { buildTestApp } from '../helpers/app.js';
import { cheapHasher, ISO_RE, PASSWORD, uniqueEmail, type ProblemBody, type SessionBody, type TokenBody, type UserBody } from '../helpers/http.js';

interface Answer<T> {
  status: number;
  contentType: string;
  body: T;
  headers: Headers;
}

t.test('a real server', async (t) => {
  const { app, runtime } = await buildTestApp(t, {}, { hasher: cheapHasher() });
  await app.listen({ port: 0, host: '127.0.0.1' });
  const address = app.server.address();
  if (address === null || typeof address === 'string') throw new Error('no TCP address');
  const base = `http://127.0.0.1:${address.port}`;

  async function call<T>(method: string, path: string, body?: unknown, token?: string, headers: Record<string, string> = {}): Promise<Answer<T>> {
    const h: Record<string, string> = { ...headers };
    if (body !== undefined) h['content-type'] = 'application/json';
    if (token !== undefined) h.authorization = `Bearer ${token}`;
    const init: RequestInit = { method, headers: h };
    if (body !== undefined) init.body = JSON.stringify(body);
    const res = await fetch(`${base}${path}`, init);
    const text = await res.text();
    return {
      status: res.status,
      contentType: res.headers.get('content-type') ?? '',
      body: (text === '' ? null : JSON.parse(text)) as T,
      headers: res.headers,
    };
  }

  /** Opens `n` keep-alive sockets up front so that a burst of `n` requests starts together. */
  const warm = (n: number) => Promise.all(Array.from({ length: n }, () => call('GET', '/health/live')));

  /** Writes raw bytes to the server and reads the whole answer (the server closes). */
  const raw = (request: string) => new Promise<string>((resolve, reject) => {
    const socket = connect(address.port, '127.0.0.1');
    let answer = '';
    socket.setEncoding('utf8');
    socket.on('data', (chunk: string) => { answer += chunk; });
    socket.on('end', () => resolve(answer));
    socket.on('close', () => resolve(answer));
    socket.on('error', reject);
    socket.end(request);
  });

  await t.test('requests Node cannot parse still get problem+json, and never a 5xx', async (t) => {
    for (const [label, request, status] of [
      ['bad request line', 'NOT A REQUEST\r\n\r\n', 400],
      ['bad header', 'GET /v1/me HTTP/1.1\r\nHost: x\r\nBad Header Line\r\n\r\n', 400],
      ['conflicting lengths', 'POST /v1/auth/login HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\nTransfer-Encoding: chunked\r\n\r\n{}', 400],
      ['headers over the limit', `GET /v1/me HTTP/1.1\r\nHost: x\r\nX-Big: ${'a'.repeat(20_000)}\r\n\r\n`, 431],
    ] as const) {
      const answer = await raw(request);
      t.match(answer, new RegExp(`^HTTP/1\\.1 ${status} `), `${label}: ${status}`);
      t.match(answer, /\r\ncontent-type: application\/problem\+json\r\n/i, `${label}: problem+json`);
      const problem = JSON.parse(answer.slice(answer.indexOf('\r\n\r\n') + 4)) as ProblemBody;
      t.equal(problem.status, status);
      t.type(problem.code, 'string');
      t.type(problem.type, 'string');
      t.type(problem.detail, 'string');
    }
    t.equal((await call('GET', '/health/live')).status, 200, 'the server is fine afterwards');
  });

  await t.test('happy flow', async (t) => {
    const email = uniqueEmail('flow');
    const reg = await call<TokenBody>('POST', '/v1/auth/register', { email: `  ${email.toUpperCase()} `, password: PASSWORD, first_name: ' Ёжик ', last_name: '李 🦔' }, undefined, { 'user-agent': 'flow-client/1.0' });
    t.equal(reg.status, 201);
    t.match(reg.contentType, /^application\/json/);
    t.equal(reg.headers.get('cache-control'), 'no-store');
    t.equal(reg.body.user.email, email);
    t.equal(reg.body.user.first_name, 'Ёжик');
    t.equal(reg.body.user.last_name, '李 🦔');
    t.ok(reg.headers.get('x-request-id'), 'every answer names its request');

    const me = await call<UserBody>('GET', '/v1/me', undefined, reg.body.access_token);
    t.equal(me.status, 200);
    t.same(me.body, reg.body.user);

    const patched = await call<UserBody>('PATCH', '/v1/me', { first_name: 'Anna' }, reg.body.access_token);
    t.equal(patched.status, 200);
    t.equal(patched.body.first_name, 'Anna');
    t.equal((await call<UserBody>('GET', '/v1/me', undefined, reg.body.access_token)).body.first_name, 'Anna', 'read-your-writes');

    const second = await call<TokenBody>('POST', '/v1/auth/login', { identifier: email, password: PASSWORD }, undefined, { 'user-agent': 'second-device/2.0' });
    t.equal(second.status, 200);
    const sessions = await call<{ sessions: SessionBody[] }>('GET', '/v1/me/sessions', undefined, reg.body.access_token);
    t.equal(sessions.status, 200);
    t.same(sessions.body.sessions.map((s) => s.id).sort(), [reg.body.session_id, second.body.session_id].sort());
    const other = sessions.body.sessions.find((s) => s.id === second.body.session_id);
    t.equal(other?.user_agent, 'second-device/2.0');
    t.equal(other?.ip, '127.0.0.1');
    t.equal(other?.current, false);
    t.match(other?.created_at, ISO_RE);

    const refreshed = await call<TokenBody>('POST', '/v1/auth/refresh', { refresh_token: reg.body.refresh_token });
    t.equal(refreshed.status, 200);
    t.equal(refreshed.body.session_id, reg.body.session_id);
    t.not(refreshed.body.refresh_token, reg.body.refresh_token);

    const out = await call<null>('POST', '/v1/auth/logout', { refresh_token: refreshed.body.refresh_token });
    t.equal(out.status, 204);
    const after = await call<ProblemBody>('POST', '/v1/auth/refresh', { refresh_token: refreshed.body.refresh_token });
    t.equal(after.status, 401);
    t.match(after.contentType, /^application\/problem\+json/);
    t.equal(after.body.code, 'invalid_token');
    t.equal((await call<ProblemBody>('GET', '/v1/me', undefined, refreshed.body.access_token)).status, 401, 'logged-out access token refused');
    t.equal((await call<UserBody>('GET', '/v1/me', undefined, second.body.access_token)).status, 200, 'the other session lives on');
  });

  await t.test('10 parallel registrations of one email: one 201, nine 409, and only the winner can log in', async (t) => {
    const email = uniqueEmail('race');
    await warm(10);
    const passwords = Array.from({ length: 10 }, (_, i) => `race password number ${i}`);
    const answers = await Promise.all(passwords.map((password) => call<TokenBody & ProblemBody>('POST', '/v1/auth/register', { email, password })));
    const statuses = answers.map((a) => a.status).sort();
    t.same(statuses, [201, ...Array<number>(9).fill(409)], `statuses: ${statuses.join(',')}`);
    for (const a of answers.filter((x) => x.status === 409)) {
      t.match(a.contentType, /^application\/problem\+json/);
      t.equal(a.body.code, 'identifier_taken');
    }
    const winner = answers.findIndex((a) => a.status === 201);
    // The winner's password first: the losers' guesses then fill the login throttle (5).
    const winnerLogin = await call<TokenBody>('POST', '/v1/auth/login', { email, password: passwords[winner] });
    t.equal(winnerLogin.status, 200, 'the winner\'s password logs in');
    t.equal(winnerLogin.body.user.id, answers[winner]?.body.user.id, 'one account');
    const logins = await Promise.all(passwords.filter((_, i) => i !== winner)
      .map((password) => call<TokenBody>('POST', '/v1/auth/login', { email, password })));
    t.ok(logins.every((l) => l.status === 401 || l.status === 429), `no loser's password logs in: ${logins.map((l) => l.status).join(',')}`);
    t.ok(logins.filter((l) => l.status === 401).length <= 5, 'at most LOGIN_MAX_FAILURES of the parallel guesses were checked');
  });

  await t.test('parallel refreshes of one token: one 200, the rest 401, and the winner\'s token still works', async (t) => {
    const reg = await call<TokenBody>('POST', '/v1/auth/register', { email: uniqueEmail('refresh'), password: PASSWORD });
    t.equal(reg.status, 201);
    await warm(8);
    // The client shares this process's event loop, so the eight requests reach the server
    // over ~20 ms; a winner answered before the last one arrived would make that one a
    // replay (reuse). A slow append keeps the winner's answer back until all have arrived.
    const store = runtime.store;
    const append = store.appendToStream.bind(store);
    store.appendToStream = async (...args) => {
      await new Promise((resolve) => setTimeout(resolve, 150));
      return append(...args);
    };
    const answers = await Promise.all(Array.from({ length: 8 }, () =>
      call<TokenBody & ProblemBody>('POST', '/v1/auth/refresh', { refresh_token: reg.body.refresh_token })))
      .finally(() => { store.appendToStream = append; });
    const winners = answers.filter((a) => a.status === 200);
    t.equal(winners.length, 1, `statuses: ${answers.map((a) => a.status).join(',')}`);
    for (const a of answers.filter((x) => x.status !== 200)) {
      t.equal(a.status, 401);
      t.equal(a.body.code, 'invalid_token', 'a concurrent loser is not treated as theft');
    }
    const winner = winners[0];
    if (!winner) return;
    const next = await call<TokenBody>('POST', '/v1/auth/refresh', { refresh_token: winner.body.refresh_token });
    t.equal(next.status, 200, 'the winner\'s refresh token still works');
    t.equal((await call<UserBody>('GET', '/v1/me', undefined, next.body.access_token)).status, 200);
    // Presented again later (past the 50 ms a replay on another open connection may still be a race), the original token is theft.
    await new Promise((resolve) => setTimeout(resolve, 60));
    const replay = await call<ProblemBody>('POST', '/v1/auth/refresh', { refresh_token: reg.body.refresh_token });
    t.equal(replay.status, 401);
    t.equal(replay.body.code, 'token_reused');
    t.equal((await call<ProblemBody>('POST', '/v1/auth/refresh', { refresh_token: next.body.refresh_token })).status, 401, 'the session is revoked');
  });

  await t.test('parallel email changes of different users to one address: one 200, the rest 409', async (t) => {
    const users = await Promise.all(Array.from({ length: 5 }, (_, i) =>
      call<TokenBody>('POST', '/v1/auth/register', { email: uniqueEmail(`mover${i}`), password: PASSWORD })));
    for (const u of users) t.equal(u.status, 201);
    const target = uniqueEmail('target');
    await warm(5);
    const answers = await Promise.all(users.map((u) => call<{ email?: string | null; code?: string }>('PATCH', '/v1/me', { email: target }, u.body.access_token)));
    const statuses = answers.map((a) => a.status).sort();
    t.same(statuses, [200, 409, 409, 409, 409], `statuses: ${statuses.join(',')}`);
    for (const a of answers.filter((x) => x.status === 409)) t.equal(a.body.code, 'identifier_taken');
    const winner = answers.findIndex((a) => a.status === 200);
    t.equal(answers[winner]?.body.email, target);
    // Everyone else kept their own address; the target logs in to the winner only.
    for (const [i, u] of users.entries()) {
      const me = await call<UserBody>('GET', '/v1/me', undefined, u.body.access_token);
      t.equal(me.body.email, i === winner ? target : u.body.user.email);
    }
    const login = await call<TokenBody>('POST', '/v1/auth/login', { email: target, password: PASSWORD });
    t.equal(login.status, 200);
    t.equal(login.body.user.id, users[winner]?.body.user.id);
  });
});
