/**
 * Recovery under faults and attack: the mail server down for a while, an erasure with a
 * message pending, a crowd of wrong codes, two instances delivering, and a forgot request
 * that tells nothing about whether the account exists (status, body, timing).
 */
import t from 'tap';
import { randomBytes, randomUUID } from 'node:crypto';
import { performance } from 'node:perf_hooks';
import { json } from '../helpers/app.js';
import { bearer, register } from '../helpers/admin.js';
import { createTestDatabase } from '../helpers/db.js';
import { startMailbox, startSmsSink } from '../helpers/mailbox.js';
import {
  RESET_URL, VERIFY_URL, buildRecoveryApp, mailedToken, messageEvents, reactorsSettled, textedCode,
} from '../helpers/recovery.js';
import { userStream } from '../../src/domain/events.js';
import { MAX_CODE_FAILURES } from '../../src/domain/user/recovery.js';

const email = (tag: string): string => `${tag}-${randomUUID().slice(0, 8)}@example.com`;

void t.test('the mail server down for a while: the message arrives once it is back, once', async (t) => {
  const a = await buildRecoveryApp(t);
  const address = email('down');
  const user = await register(a.app, { email: address });
  await reactorsSettled(a);
  await a.mailbox.stop();
  t.equal((await a.app.inject({ method: 'POST', url: '/v1/auth/password/forgot', payload: { email: address } })).statusCode, 202,
    'answered at once: delivery is the reactor\'s');
  // Failures are recorded and retried with backoff while the server is away.
  const deadline = Date.now() + 15_000;
  let failures = 0;
  while (failures < 2 && Date.now() < deadline) {
    failures = (await messageEvents(a, user.user.id)).filter((e) => e.type === 'MessageFailed').length;
    await new Promise((r) => setTimeout(r, 100));
  }
  t.ok(failures >= 2, `${failures} failed attempts recorded`);
  const failing = (await a.runtime.reactors.status()).find((s) => s.name === 'messages')?.failing;
  t.match(failing, { attempts: Number, reason: /smtp/ }, 'the reactor status says it is stuck and why');
  t.notMatch(JSON.stringify(failing), address, 'no address in the status');
  await a.mailbox.start();
  const { token } = await mailedToken(a.mailbox, address, RESET_URL);
  t.ok(token);
  await reactorsSettled(a);
  t.equal(a.mailbox.messages.filter((m) => m.to.includes(address) && m.text.includes(RESET_URL)).length, 1, 'delivered once');
  const recorded = await messageEvents(a, user.user.id);
  t.match(recorded.at(-1), { type: 'MessageSent', data: { purpose: 'password_reset' } });
  t.equal((await a.runtime.reactors.status()).find((s) => s.name === 'messages')?.failing, null, 'no longer failing');
});

void t.test('erasure voids pending tokens, and no message goes to an erased user', async (t) => {
  const a = await buildRecoveryApp(t);
  const address = email('erased');
  const user = await register(a.app, { email: address });
  await mailedToken(a.mailbox, address, VERIFY_URL);
  await a.app.inject({ method: 'POST', url: '/v1/auth/password/forgot', payload: { email: address } });
  const { token } = await mailedToken(a.mailbox, address, RESET_URL);
  await a.mailbox.stop();
  await a.app.inject({ method: 'POST', url: '/v1/me/email/verification', headers: bearer(user) });
  const erase = await a.app.inject({ method: 'DELETE', url: '/v1/me', payload: { password: 'correct horse battery staple' }, headers: bearer(user) });
  t.equal(erase.statusCode, 204);
  const before = a.mailbox.messages.length;
  await a.mailbox.start();
  await reactorsSettled(a);
  t.equal(a.mailbox.messages.length, before, 'the message pending at the erasure is never sent');
  const reset = await a.app.inject({ method: 'POST', url: '/v1/auth/password/reset', payload: { token, new_password: 'a brand new passphrase' } });
  t.equal(json(reset).code, 'invalid_code', 'the reset link died with the account');
  t.match((await messageEvents(a, user.user.id)).at(-1), { type: 'MessageSkipped', data: { reason: 'erased' } });
  // Asking again for the erased address: 202 as for anyone, nothing sent.
  t.equal((await a.app.inject({ method: 'POST', url: '/v1/auth/password/forgot', payload: { email: address } })).statusCode, 202);
  await reactorsSettled(a);
  t.equal(a.mailbox.messages.length, before);
});

void t.test('50 parallel wrong codes: at most 5 are checked, then even the right code is refused', async (t) => {
  const a = await buildRecoveryApp(t);
  const number = '+4915198765432';
  const user = await register(a.app, { phone: number });
  await a.app.inject({ method: 'POST', url: '/v1/me/phone/verification', headers: bearer(user) });
  const code = await textedCode(a.sms, number);
  const wrong = (i: number): string => String((Number(code) + 1 + i) % 1_000_000).padStart(6, '0');
  const answers = await Promise.all(Array.from({ length: 50 }, (_, i) =>
    a.app.inject({ method: 'POST', url: '/v1/me/phone/verify', payload: { code: wrong(i) }, headers: bearer(user) })));
  const statuses = answers.map((r) => r.statusCode);
  t.ok(statuses.every((s) => s === 400 || s === 429), `only 400 invalid_code and 429 (${[...new Set(statuses)].join(', ')})`);
  const events = await a.runtime.codec.decodeAll(await a.runtime.store.readStream(userStream(user.user.id)));
  const checked = events.filter((e) => e.type === 'VerificationFailed').length;
  t.ok(checked <= MAX_CODE_FAILURES, `${checked} wrong codes checked (at most ${MAX_CODE_FAILURES})`);
  t.equal(checked, MAX_CODE_FAILURES, 'and the limit was reached');
  const right = await a.app.inject({ method: 'POST', url: '/v1/me/phone/verify', payload: { code }, headers: bearer(user) });
  t.equal(json(right).code, 'invalid_code', 'out of attempts: the code is void');
  t.equal((await a.app.inject({ method: 'POST', url: '/v1/me/phone/verification', headers: bearer(user) })).statusCode, 202, 'a new code can be asked for');
});

void t.test('two instances on one database: each message delivered once', async (t) => {
  const db = await createTestDatabase(t);
  const mailbox = await startMailbox(t);
  const sms = await startSmsSink(t);
  const env = { MASTER_KEY: randomBytes(32).toString('base64') }; // instances of one deployment share it
  const one = await buildRecoveryApp(t, env, { db, mailbox, sms });
  const two = await buildRecoveryApp(t, env, { db, mailbox, sms });
  const addresses = Array.from({ length: 6 }, (_, i) => email(`pair${i}`));
  for (const [i, address] of addresses.entries()) await register((i % 2 ? one : two).app, { email: address });
  await Promise.all(addresses.map((address, i) =>
    (i % 2 ? two : one).app.inject({ method: 'POST', url: '/v1/auth/password/forgot', payload: { email: address } })));
  for (const address of addresses) await mailedToken(mailbox, address, RESET_URL);
  await reactorsSettled(one);
  await reactorsSettled(two);
  for (const address of addresses) {
    const got = mailbox.messages.filter((m) => m.to.includes(address));
    t.equal(got.length, 2, `${address}: one verification and one reset mail`);
  }
  const active = [...await one.runtime.reactors.status(), ...await two.runtime.reactors.status()].filter((s) => s.name === 'messages' && s.active);
  t.equal(active.length, 1, 'one instance holds the messages reactor; the other stands by');
});

void t.test('forgot: the same answer, body and time whether or not the account exists', async (t) => {
  const a = await buildRecoveryApp(t, { RECOVERY_MAX_REQUESTS: '1000' });
  const known = email('known');
  await register(a.app, { email: known });
  const unknown = email('nobody');
  const ask = async (address: string) => {
    const started = performance.now();
    const r = await a.app.inject({ method: 'POST', url: '/v1/auth/password/forgot', payload: { email: address } });
    return { ms: performance.now() - started, status: r.statusCode, body: r.body };
  };
  for (let i = 0; i < 10; i++) await ask(i % 2 ? known : unknown); // warm up
  const times = { known: [] as number[], unknown: [] as number[] };
  const bodies = new Set<string>();
  const round = async (): Promise<void> => {
    for (let i = 0; i < 120; i++) {
      const which = i % 2 ? 'known' : 'unknown';
      await reactorsSettled(a); // the previous ask's work after its answer is not this one's
      const r = await ask(which === 'known' ? known : unknown);
      t.equal(r.status, 202);
      bodies.add(r.body);
      times[which].push(r.ms);
    }
  };
  const median = (xs: number[]) => [...xs].sort((x, y) => x - y)[Math.floor(xs.length / 2)] ?? 0;
  // Each known ask against the unknown one just before it: the median of those differences
  // cancels the load other test files put on the machine meanwhile (CI runs with four files
  // at a time saw the plain medians 2-3 ms apart at ~10 ms, in either direction when
  // repeated). A real difference (a write or a hash on one side only) is systematic: it stays
  // in the pooled samples when a noisy round is measured again (up to three rounds), where
  // noise does not. Within 10 % of the median time, or 1.5 ms.
  let shift = 0;
  let limit = 0;
  for (let rounds = 1; rounds <= 3; rounds++) {
    await round();
    const [mk, mu] = [median(times.known), median(times.unknown)];
    shift = median(times.known.map((k, i) => k - (times.unknown[i] ?? k)));
    limit = Math.max(0.1 * Math.max(mk, mu), 1.5);
    t.comment(`after ${rounds * 120} asks: median known ${mk.toFixed(2)} ms, unknown ${mu.toFixed(2)} ms, paired difference ${shift.toFixed(2)} ms`);
    if (Math.abs(shift) <= limit) break;
  }
  t.equal(bodies.size, 1, 'one body for both');
  t.ok(Math.abs(shift) <= limit, 'no systematic difference in time');
  await reactorsSettled(a);
  const tooMany = await buildRecoveryApp(t, { RECOVERY_MAX_REQUESTS: '2' });
  for (const address of [email('k'), email('u')]) {
    const answers = [];
    for (let i = 0; i < 3; i++) answers.push((await tooMany.app.inject({ method: 'POST', url: '/v1/auth/password/forgot', payload: { email: address } })).statusCode);
    t.strictSame(answers, [202, 202, 429], 'per identifier: the third ask within the window is 429, known or not');
  }
});
