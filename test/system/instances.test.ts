/**
 * Three service processes on one PostgreSQL database, called over HTTP as a load balancer
 * would spread clients: refresh races across instances, the reuse grace, revocations made
 * on one instance seen on the others, and second factors decided the same on every one.
 */
import t from 'tap';
import { setTimeout as sleep } from 'node:timers/promises';
import { LOST_RACE_WINDOW_MS } from '../../src/domain/session/session.js';
import { call, startCluster, type Instance } from '../helpers/instances.js';
import { awayFromStepEdge, codeOf } from '../helpers/mfa.js';

const PASSWORD = 'correct horse battery staple';
const ADMIN = { email: 'root@example.com', password: 'admin password for the cluster' };

const cluster = await startCluster(t, 3, {
  BOOTSTRAP_ADMIN_EMAIL: ADMIN.email, BOOTSTRAP_ADMIN_PASSWORD: ADMIN.password, LOGIN_RATE_PER_IP_PER_MINUTE: '100000',
});
if (!cluster) {
  t.comment('no PostgreSQL server: the multi-instance suite needs one');
} else {
  const [a, b, c] = cluster.instances as [Instance, Instance, Instance];
  const all = [a, b, c];
  let n = 0;
  const register = async (on: Instance) => {
    const res = await call(on, 'POST', '/v1/auth/register', { email: `multi${n++}.${Date.now()}@example.com`, password: PASSWORD });
    if (res.status !== 201) throw new Error(`register: ${res.status} ${JSON.stringify(res.body)}`);
    return res.body as { access_token: string; refresh_token: string; session_id: string; user: { id: string } };
  };
  const bearer = (token: string) => ({ authorization: `Bearer ${token}` });
  const adminLogin = async () => (await call(a, 'POST', '/v1/auth/login', ADMIN)).body as { access_token: string };

  /** Waits until every instance reports the setting (settings travel by the event subscription). */
  const setGrace = async (seconds: number) => {
    const admin = await adminLogin();
    const patched = await call(a, 'PATCH', '/v1/admin/settings', { refresh_reuse_grace_seconds: seconds }, bearer(admin.access_token));
    if (patched.status !== 200) throw new Error(`settings: ${patched.status} ${JSON.stringify(patched.body)}`);
    for (const instance of all) {
      const deadline = Date.now() + 10_000;
      for (;;) {
        const s = await call(instance, 'GET', '/v1/admin/settings', undefined, bearer(admin.access_token));
        if (s.body?.refresh_reuse_grace_seconds === seconds) break;
        if (Date.now() > deadline) throw new Error(`${instance.name} did not see the grace ${seconds}`);
        await sleep(20);
      }
    }
  };

  /** `count` refreshes of one token at once, spread round-robin over the instances. */
  const refreshAtOnce = (token: string, count: number) =>
    Promise.all(Array.from({ length: count }, (_, i) => call(all[i % all.length] as Instance, 'POST', '/v1/auth/refresh', { refresh_token: token })));

  await t.test('grace 0: of 9 parallel refreshes over three instances one wins, and the session lives (20 trials)', async (t) => {
    let failures = 0;
    for (let trial = 0; trial < 20; trial++) {
      const session = await register(all[trial % 3] as Instance);
      const answers = await refreshAtOnce(session.refresh_token, 9);
      const winners = answers.filter((r) => r.status === 200);
      const losers = answers.filter((r) => r.status !== 200);
      const ok = winners.length === 1 && losers.every((r) => r.status === 401 && r.body?.code === 'invalid_token');
      const next = winners[0] ? await call(all[(trial + 1) % 3] as Instance, 'POST', '/v1/auth/refresh', { refresh_token: winners[0].body.refresh_token }) : undefined;
      if (!ok || next?.status !== 200) {
        failures++;
        t.comment(`trial ${trial}: ${answers.map((r) => `${r.status}${r.body?.code ? ` ${r.body.code}` : ''}`).join(', ')}; next ${next?.status}`);
      }
    }
    t.equal(failures, 0, 'one 200 and eight invalid_token every time; the winner\'s token refreshes again');
  });

  await t.test('grace > 0: every parallel presenter gets a pair of the same session; after the window reuse revokes', async (t) => {
    await setGrace(2);
    t.teardown(() => setGrace(0));
    const session = await register(a);
    const answers = await refreshAtOnce(session.refresh_token, 9);
    t.same(answers.map((r) => r.status), Array(9).fill(200), 'all 200');
    t.ok(answers.every((r) => r.body.session_id === session.session_id), 'all of the same session');
    t.equal(new Set(answers.map((r) => r.body.refresh_token)).size, 9, 'each a fresh refresh token');
    const newest = answers.at(-1)?.body.refresh_token as string;
    const me = await call(b, 'GET', '/v1/me', undefined, bearer(answers[0]?.body.access_token));
    t.equal(me.status, 200, 'the session is alive');

    await sleep(2_600);
    const reuse = await call(c, 'POST', '/v1/auth/refresh', { refresh_token: session.refresh_token });
    t.equal(reuse.status, 401);
    t.equal(reuse.body.code, 'token_reused', 'after the window the first token is reuse');
    const after = await call(a, 'POST', '/v1/auth/refresh', { refresh_token: newest });
    t.equal(after.status, 401, 'and the whole session is revoked');
  });

  await t.test('a token rotated on one instance and replayed on another after the race window is theft', async (t) => {
    const session = await register(a);
    const rotated = await call(a, 'POST', '/v1/auth/refresh', { refresh_token: session.refresh_token });
    t.equal(rotated.status, 200);
    await sleep(LOST_RACE_WINDOW_MS + 100);
    const replay = await call(b, 'POST', '/v1/auth/refresh', { refresh_token: session.refresh_token });
    t.equal(replay.body?.code, 'token_reused');
    const newest = await call(c, 'POST', '/v1/auth/refresh', { refresh_token: rotated.body.refresh_token });
    t.equal(newest.status, 401, 'the session is revoked everywhere');
  });

  await t.test('parallel brute force across instances: at most LOGIN_MAX_FAILURES checked on each endpoint, the rest 429', async (t) => {
    const GUESSES = 50;
    const spread = (send: (on: Instance, i: number) => Promise<{ status: number }>) =>
      Promise.all(Array.from({ length: GUESSES }, (_, i) => send(all[i % 3] as Instance, i)));
    const tally = (answers: { status: number }[]) => {
      const count = (status: number) => answers.filter((r) => r.status === status).length;
      return { checked: count(401) + count(400), limited: count(429), other: answers.length - count(401) - count(400) - count(429) };
    };

    const victim = await register(a);
    const email = (await call(a, 'GET', '/v1/me', undefined, bearer(victim.access_token))).body.email as string;
    const login = tally(await spread((on, i) => call(on, 'POST', '/v1/auth/login', { email, password: `wrong guess ${i}` })));
    t.ok(login.checked <= 5 && login.checked >= 1, `/v1/auth/login: ${login.checked} checked`);
    t.equal(login.limited + login.checked, GUESSES, 'the rest 429');
    const right = await call(b, 'POST', '/v1/auth/login', { email, password: PASSWORD });
    t.equal(right.status, 429, 'the right password is refused while the account is locked');
    const change = await call(c, 'POST', '/v1/me/password', { current_password: PASSWORD, new_password: 'a brand new password 1' }, bearer(victim.access_token));
    t.equal(change.status, 429, 'and a password change cannot confirm it either');

    const second = await register(b);
    const email2 = (await call(b, 'GET', '/v1/me', undefined, bearer(second.access_token))).body.email as string;
    const form = (on: Instance, i: number) => fetch(`${on.url}/oauth/token`, {
      method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({ grant_type: 'password', username: email2, password: `wrong guess ${i}` }),
    });
    const oauth = tally(await spread(form));
    t.ok(oauth.checked <= 5, `/oauth/token: ${oauth.checked} checked`);
    t.equal(oauth.other, 0);

    const third = await register(c);
    const changes = tally(await spread((on, i) => call(on, 'POST', '/v1/me/password',
      { current_password: `wrong guess ${i}`, new_password: 'a brand new password 2' }, bearer(third.access_token))));
    t.ok(changes.checked <= 5, `POST /v1/me/password: ${changes.checked} checked`);
    t.equal(changes.other, 0);

    const fourth = await register(a);
    const erasures = tally(await spread((on, i) => call(on, 'DELETE', '/v1/me', { password: `wrong guess ${i}` }, bearer(fourth.access_token))));
    t.ok(erasures.checked <= 5, `DELETE /v1/me: ${erasures.checked} checked`);
    t.equal(erasures.other, 0);
    t.equal((await call(a, 'GET', '/v1/me', undefined, bearer(fourth.access_token))).status, 200, 'the account is still there');
  });

  /** Polls `probe` on an instance until it answers `status`; how long it took (ms), or -1. */
  const seenWithin = async (probe: () => Promise<{ status: number }>, status: number, limitMs = 2_000): Promise<number> => {
    const start = Date.now();
    for (;;) {
      if ((await probe()).status === status) return Date.now() - start;
      if (Date.now() - start > limitMs) return -1;
      await sleep(5);
    }
  };

  await t.test('logout on one instance: the access token is refused on the others', async (t) => {
    const session = await register(a);
    t.equal((await call(b, 'GET', '/v1/me', undefined, bearer(session.access_token))).status, 200);
    t.equal((await call(a, 'POST', '/v1/auth/logout', undefined, bearer(session.access_token))).status, 204);
    for (const other of [b, c]) {
      const ms = await seenWithin(() => call(other, 'GET', '/v1/me', undefined, bearer(session.access_token)), 401);
      t.ok(ms >= 0 && ms < 1000, `${other.name} refuses it ${ms} ms after the logout answered`);
    }
  });

  await t.test('a role revoked on one instance: the old token stops opening the admin API everywhere; a refreshed one has the new roles', async (t) => {
    const root = await adminLogin();
    const session = await register(b);
    const grant = await call(a, 'POST', `/v1/admin/users/${session.user.id}/roles`, { role: 'admin' }, bearer(root.access_token));
    t.equal(grant.status, 204);
    const promoted = await call(c, 'POST', '/v1/auth/refresh', { refresh_token: session.refresh_token });
    t.equal(promoted.status, 200);
    t.ok((await call(b, 'GET', '/v1/admin/users', undefined, bearer(promoted.body.access_token))).status === 200, 'the admin token works');

    const revoke = await call(a, 'DELETE', `/v1/admin/users/${session.user.id}/roles/admin`, undefined, bearer(root.access_token));
    t.equal(revoke.status, 204);
    for (const other of all) {
      const ms = await seenWithin(() => call(other, 'GET', '/v1/admin/users', undefined, bearer(promoted.body.access_token)), 401);
      t.ok(ms >= 0 && ms < 1000, `${other.name} refuses the old token ${ms} ms after the revoke answered`);
    }
    const after = await call(b, 'POST', '/v1/auth/refresh', { refresh_token: promoted.body.refresh_token });
    t.equal(after.status, 200, 'the session itself lives on');
    t.same(after.body.user.roles, ['user']);
    t.equal((await call(c, 'GET', '/v1/admin/users', undefined, bearer(after.body.access_token))).status, 403, 'the new token: forbidden');
    t.equal((await call(c, 'GET', '/v1/me', undefined, bearer(after.body.access_token))).status, 200, 'but a valid token');
  });

  await t.test('a user disabled on one instance: every earlier token is refused everywhere', async (t) => {
    const root = await adminLogin();
    const session = await register(c);
    const second = await call(b, 'POST', '/v1/auth/login', { email: (await call(c, 'GET', '/v1/me', undefined, bearer(session.access_token))).body.email, password: PASSWORD });
    t.equal((await call(a, 'POST', `/v1/admin/users/${session.user.id}/disable`, undefined, bearer(root.access_token))).status, 204);
    for (const token of [session.access_token, second.body.access_token as string]) {
      for (const other of all) {
        const ms = await seenWithin(() => call(other, 'GET', '/v1/me', undefined, bearer(token)), 401);
        t.ok(ms >= 0 && ms < 1000, `${other.name}: refused ${ms} ms after the disable answered`);
      }
    }
  });
  /// Second factors: every decision is made on the user's mfa- stream, not in one instance's memory.

  const mfaUser = async (on: Instance) => {
    await awayFromStepEdge();
    const u = await register(on);
    const started = await call(on, 'POST', '/v1/me/mfa/totp', { password: PASSWORD }, bearer(u.access_token));
    const secret = started.body.secret as string;
    const confirmed = await call(on, 'POST', `/v1/me/mfa/totp/${started.body.factor_id as string}/confirm`,
      { code: codeOf(secret, new Date(), -1) }, bearer(u.access_token));
    if (confirmed.status !== 201) throw new Error(`confirm: ${confirmed.status} ${JSON.stringify(confirmed.body)}`);
    const me = await call(on, 'GET', '/v1/me', undefined, bearer(u.access_token));
    return { email: me.body.email as string, secret };
  };
  const mfaTicket = async (on: Instance, email: string): Promise<string> => {
    const res = await call(on, 'POST', '/v1/auth/login', { email, password: PASSWORD });
    if (res.status !== 403) throw new Error(`login: ${res.status} ${JSON.stringify(res.body)}`);
    return res.body.mfa_ticket as string;
  };
  const redeem = (on: Instance, ticket: string, code: string) => call(on, 'POST', '/v1/auth/login/mfa', { mfa_ticket: ticket, code });

  await t.test('MFA: a ticket from one instance is redeemed on another; a code used on one is refused on the others', async (t) => {
    const u = await mfaUser(a);
    const code = codeOf(u.secret);
    t.equal((await redeem(b, await mfaTicket(a, u.email), code)).status, 200);
    const replay = await redeem(c, await mfaTicket(b, u.email), code);
    t.same([replay.status, replay.body.code], [400, 'invalid_code']);
  });

  await t.test('MFA: one ticket redeemed on three instances at once starts one session', async (t) => {
    const u = await mfaUser(a);
    const ticket = await mfaTicket(a, u.email);
    const answers = await Promise.all(all.map((on, i) => redeem(on, ticket, codeOf(u.secret, new Date(), i === 0 ? 0 : 1))));
    t.same(answers.map((r) => r.status).filter((s) => s === 200), [200], JSON.stringify(answers.map((r) => r.body?.code ?? r.status)));
  });

  await t.test('MFA: wrong codes spread over the instances are counted together (LOGIN_MAX_FAILURES, 5)', async (t) => {
    const u = await mfaUser(b);
    const right = codeOf(u.secret, new Date(), 1);
    const wrong = right === '000000' ? '000001' : '000000';
    const tickets = await Promise.all(all.map((on) => mfaTicket(on, u.email)));
    const answers = await Promise.all(Array.from({ length: 15 }, (_, i) => redeem(all[i % 3] as Instance, tickets[i % 3] as string, wrong)));
    const statuses = answers.map((r) => r.status);
    t.equal(statuses.filter((s) => s === 400).length, 5, `5 checked: ${statuses.join(' ')}`);
    t.equal(statuses.filter((s) => s === 429).length, 10);
    t.equal((await redeem(c, tickets[0] as string, right)).status, 429, 'locked on every instance');
  });
}
