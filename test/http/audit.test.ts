/**
 * What a request leaves behind. Every event it appends carries request_id, correlation_id
 * (X-Correlation-ID honoured), ip, user_agent and actor_id in its metadata; no log line
 * holds a password, a refresh or access token, or a hash of one; personal data is never
 * stored in the clear, and an erased user's is unreadable.
 */
import t from 'tap';
import type { LightMyRequestResponse } from 'fastify';
import { PSEUDONYMOUS } from '../../src/domain/events.js';
import { hashToken } from '../../src/infra/secrets.js';
import { buildTestApp } from '../helpers/app.js';
import { cheapHasher, parse, uniqueEmail, type TokenBody } from '../helpers/http.js';
import { readAllSettled } from '../helpers/db.js';

const { app, runtime, logs } = await buildTestApp(t, {}, { hasher: cheapHasher() });

interface Sent {
  requestId: string;
  correlationId: string | undefined;
  userAgent: string;
  actor: string | null;
}
const sent: Sent[] = [];
const passwords: string[] = [];
const tokens: string[] = [];

/** One request of the scenario; remembers what its events must say. */
async function call(
  method: 'GET' | 'POST' | 'PATCH' | 'DELETE',
  url: string,
  options: { body?: Record<string, unknown>; token?: string; actor?: string | null; correlation?: string; ua?: string } = {},
): Promise<LightMyRequestResponse> {
  const headers: Record<string, string> = { 'user-agent': options.ua ?? 'AuditClient/1.0 (test)' };
  if (options.token !== undefined) headers.authorization = `Bearer ${options.token}`;
  if (options.correlation !== undefined) headers['x-correlation-id'] = options.correlation;
  const res = await app.inject({ method, url, headers, ...(options.body === undefined ? {} : { payload: options.body }) });
  sent.push({
    requestId: String(res.headers['x-request-id']),
    correlationId: options.correlation,
    userAgent: headers['user-agent'] ?? '',
    actor: options.actor ?? null,
  });
  for (const v of Object.values(options.body ?? {})) if (typeof v === 'string' && /pass|secret|phrase/i.test(v)) passwords.push(v);
  if (res.statusCode < 300 && res.body.startsWith('{"access_token"')) {
    const b = parse<TokenBody>(res);
    tokens.push(b.access_token, b.refresh_token);
  }
  return res;
}

t.test('a full scenario', async (t) => {
  const email = uniqueEmail('audit');
  const pw1 = 'first secret passphrase';
  const pw2 = 'second secret passphrase';
  const reg = await call('POST', '/v1/auth/register', { body: { email, phone: '+1 415 555 2671', password: pw1, first_name: 'Audit' }, correlation: 'corr-register-1' });
  t.equal(reg.statusCode, 201);
  const a = parse<TokenBody>(reg);
  const uid = a.user.id;
  t.equal((await call('POST', '/v1/auth/login', { body: { email, password: 'wrong secret passphrase' } })).statusCode, 401);
  t.equal((await call('POST', '/v1/auth/login', { body: { email: uniqueEmail('nobody'), password: 'unknown secret passphrase' } })).statusCode, 401);
  const b = parse<TokenBody>(await call('POST', '/v1/auth/login', { body: { phone: '+14155552671', password: pw1 }, ua: 'OtherDevice/9', correlation: 'corr-login-2' }));
  const c = parse<TokenBody>(await call('POST', '/v1/auth/refresh', { body: { refresh_token: b.refresh_token }, correlation: 'corr-refresh' }));
  const email2 = uniqueEmail('audit2');
  t.equal((await call('PATCH', '/v1/me', { token: a.access_token, actor: uid, body: { email: email2, last_name: 'Trail' }, correlation: 'corr-patch' })).statusCode, 200);
  t.equal((await call('POST', '/v1/me/password', { token: a.access_token, actor: uid, body: { current_password: pw1, new_password: pw2 } })).statusCode, 204);
  const d = parse<TokenBody>(await call('POST', '/v1/auth/login', { body: { phone: '+14155552671', password: pw2 } }));
  const e = parse<TokenBody>(await call('POST', '/v1/auth/login', { body: { phone: '+14155552671', password: pw2 } }));
  t.equal((await call('DELETE', `/v1/me/sessions/${d.session_id}`, { token: a.access_token, actor: uid })).statusCode, 204);
  const f = parse<TokenBody>(await call('POST', '/v1/auth/refresh', { body: { refresh_token: e.refresh_token } }));
  t.equal((await call('POST', '/v1/auth/refresh', { body: { refresh_token: e.refresh_token }, correlation: 'corr-theft' })).statusCode, 401, 'reuse');
  t.equal((await call('POST', '/v1/auth/logout', { body: { refresh_token: f.refresh_token } })).statusCode, 204);
  t.equal((await call('POST', '/v1/auth/logout', { token: a.access_token, actor: uid })).statusCode, 204);
  const g = parse<TokenBody>(await call('POST', '/v1/auth/login', { body: { phone: '+14155552671', password: pw2 } }));
  t.equal((await call('POST', '/v1/auth/logout-all', { token: g.access_token, actor: uid, correlation: 'corr-all' })).statusCode, 204);
  t.equal((await call('POST', '/v1/auth/refresh', { body: { refresh_token: 'not a real token at all' } })).statusCode, 401);
  t.equal((await call('POST', '/v1/auth/register', { body: { email: uniqueEmail(), password: 'short' } })).statusCode, 400);
  t.equal((await call('POST', '/v1/auth/register', { body: { email: email2, password: 'third secret passphrase' } })).statusCode, 409);
  void c;

  // A second user erases their account.
  const leaverEmail = uniqueEmail('leaver');
  const leaver = parse<TokenBody>(await call('POST', '/v1/auth/register', { body: { email: leaverEmail, password: 'leaver secret passphrase' }, ua: 'LeaverAgent/3' }));
  t.equal((await call('DELETE', '/v1/me', { token: leaver.access_token, actor: leaver.user.id, body: { password: 'leaver secret passphrase' }, ua: 'LeaverAgent/3', correlation: 'corr-erase' })).statusCode, 204);

  const raw = await readAllSettled(runtime.store, 1000);
  const events = await runtime.codec.decodeAll(raw);
  t.ok(events.length >= 29, `${events.length} events`);

  t.test('every event carries the metadata of the request that appended it', async (t) => {
    const byRequest = new Map(sent.map((s) => [s.requestId, s]));
    const types = new Set<string>();
    for (const ev of events) {
      types.add(ev.type);
      const m = ev.metadata;
      if (ev.shredded && PSEUDONYMOUS.has(ev.type)) {
        // An erased user's identifier streams no longer tie to any request of theirs.
        t.match(m, { correlation_id: null, causation_id: null, actor_id: null, request_id: null, ip: null }, `${ev.type}: unlinked`);
        t.equal((ev.data as { user_id?: unknown }).user_id, null);
        continue;
      }
      if (ev.streamId.startsWith('messages-')) {
        // Written by the messages reactor after the answer: caused by the event that asked for the message.
        t.ok(events.some((x) => x.id === m.causation_id), `${ev.type}: caused by an event of the scenario`);
        t.equal(m.request_id, null);
        continue;
      }
      const req = m.request_id === null ? undefined : byRequest.get(m.request_id);
      t.ok(req, `${ev.type}: request_id ${m.request_id} is one of ours`);
      if (!req) continue;
      t.equal(m.correlation_id, req.correlationId ?? req.requestId, `${ev.type}: correlation_id (given: ${req.correlationId ?? 'none'})`);
      t.equal(m.schema_version, 1);
      const userId = 'user_id' in ev.data ? (ev.data.user_id as string | null) : null;
      // Who acted: the user (also when a refresh token or a login names them); null when
      // anonymous, as a failed login is even when it names an account.
      // The throttle's stream (password checks, failed logins) is anonymous.
      const throttle = ev.type === 'LoginFailed' || ev.type === 'LoginAttemptStarted' || ev.type === 'LoginAttemptSucceeded';
      t.equal(m.actor_id, throttle ? null : userId, `${ev.type}: actor_id`);
      if (ev.shredded) continue;
      if (userId === null) {
        // Personal data lives only under a user's key: with no user there is nothing to keep it under.
        t.ok(throttle, `${ev.type}: only the throttle's events (a check, a failure for an unknown identifier) have no subject`);
        t.equal(m.ip, null);
        t.equal(m.user_agent, null);
      } else {
        t.equal(m.ip, '127.0.0.1', `${ev.type}: ip`);
        t.equal(m.user_agent, req.userAgent, `${ev.type}: user_agent`);
      }
    }
    for (const type of ['UserRegistered', 'IdentifierClaimed', 'IdentifierReleased', 'SessionStarted', 'LoginFailed', 'RefreshTokenRotated',
      'RefreshTokenReuseDetected', 'SessionRevoked', 'ProfileUpdated', 'EmailChanged', 'PasswordChanged', 'UserErased']) {
      t.ok(types.has(type), `the scenario produced ${type}`);
    }
    const corr = events.filter((ev) => ev.metadata.correlation_id === 'corr-register-1' && !ev.streamId.startsWith('messages-')).map((ev) => ev.type);
    t.same(new Set(corr), new Set(['IdentifierClaimed', 'UserRegistered', 'EmailVerificationRequested', 'SessionStarted']),
      'one correlation id for the registration\'s events (and the messages reactor\'s record of its mail, when it has run)');
  });

  t.test('no log line holds a password, a token or a hash of one', async (t) => {
    t.ok(logs.length > 20, `${logs.length} log lines captured`);
    const text = logs.join('\n');
    const hashes = [
      ...tokens.map((tok) => hashToken(tok)),
      ...events.flatMap((ev) => ['password_hash', 'refresh_token_hash'].map((k) => (ev.data as Record<string, unknown>)[k]))
        .filter((v): v is string => typeof v === 'string' && v.length > 0),
    ];
    t.ok(hashes.some((h) => h.startsWith('$argon2id$')), 'password hashes are among the secrets looked for');
    const secrets = [...new Set([...passwords, ...tokens, ...tokens.map((tok) => tok.split('.')[2] ?? tok), ...hashes])];
    t.ok(passwords.length >= 6 && tokens.length >= 10, `${passwords.length} passwords, ${tokens.length} tokens`);
    for (const s of secrets) {
      if (text.includes(s)) t.fail(`a secret appears in the logs: ${s.slice(0, 12)}…`);
    }
    t.notMatch(text, /\$argon2/, 'no argon2 string at all');
    t.notMatch(text, /"authorization"/i, 'no Authorization header logged');
    t.pass(`${secrets.length} secrets looked for`);
  });

  t.test('personal data is never stored in the clear; the erased user\'s is unreadable', async (t) => {
    const stored = JSON.stringify(raw, (_k, v: unknown) => (typeof v === 'bigint' ? v.toString() : v));
    for (const pii of [email, leaverEmail, '+14155552671', '127.0.0.1', 'AuditClient/1.0', 'LeaverAgent/3', 'Audit', 'Trail']) {
      t.notOk(stored.includes(pii), `"${pii}" is not in the event store in the clear`);
    }
    const theirs = events.filter((ev) => 'user_id' in ev.data && ev.data.user_id === leaver.user.id);
    t.ok(theirs.length >= 4);
    const readable = JSON.stringify(theirs, (_k, v: unknown) => (typeof v === 'bigint' ? v.toString() : v));
    t.notOk(readable.includes(leaverEmail), 'the erased email cannot be read back');
    t.notOk(readable.includes('LeaverAgent/3'), 'nor the user agent');
    t.notOk(readable.includes('127.0.0.1'), 'nor the address');
    // UserErased and the messages reactor's records hold no personal data to shred.
    for (const ev of theirs.filter((x) => x.type !== 'UserErased' && !x.streamId.startsWith('messages-'))) {
      t.equal(ev.shredded, true, `${ev.type} is shredded`);
    }
  });
});
