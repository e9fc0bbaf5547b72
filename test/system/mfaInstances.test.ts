/**
 * Second factors across two service processes on one database: every decision is made on
 * the user's `mfa-` stream, so a ticket issued by one instance is redeemed on the other, a
 * code used on one is refused on the other, one ticket redeemed on both at once starts one
 * session, and wrong guesses spread over both are counted together.
 */
import t from 'tap';
import { call, startCluster, type Instance } from '../helpers/instances.js';
import { awayFromStepEdge, codeOf } from '../helpers/mfa.js';

const PASSWORD = 'correct horse battery staple';
const cluster = await startCluster(t, 2, { LOGIN_MAX_FAILURES: '3', LOGIN_RATE_PER_IP_PER_MINUTE: '100000' });
if (!cluster) throw new Error('no PostgreSQL server: the multi-instance suite needs one');
const [a, b] = cluster.instances as [Instance, Instance];
let n = 0;

async function mfaUser(on: Instance) {
  await awayFromStepEdge();
  const email = `mfa${n++}.${Date.now()}@example.com`;
  const reg = await call(on, 'POST', '/v1/auth/register', { email, password: PASSWORD });
  const auth = { authorization: `Bearer ${reg.body.access_token as string}` };
  const started = await call(on, 'POST', '/v1/me/mfa/totp', { password: PASSWORD }, auth);
  const secret = started.body.secret as string;
  const confirmed = await call(on, 'POST', `/v1/me/mfa/totp/${started.body.factor_id as string}/confirm`, { code: codeOf(secret, new Date(), -1) }, auth);
  if (confirmed.status !== 201) throw new Error(`confirm: ${confirmed.status} ${JSON.stringify(confirmed.body)}`);
  return { email, secret };
}

async function ticket(on: Instance, email: string): Promise<string> {
  const res = await call(on, 'POST', '/v1/auth/login', { email, password: PASSWORD });
  if (res.status !== 403) throw new Error(`login: ${res.status} ${JSON.stringify(res.body)}`);
  return res.body.mfa_ticket as string;
}

const redeem = (on: Instance, mfaTicket: string, code: string) => call(on, 'POST', '/v1/auth/login/mfa', { mfa_ticket: mfaTicket, code });

t.test('a ticket from one instance is redeemed on the other; a code used on one is refused on the other', async (t) => {
  const u = await mfaUser(a);
  const code = codeOf(u.secret);
  t.equal((await redeem(b, await ticket(a, u.email), code)).status, 200);
  const replay = await redeem(a, await ticket(b, u.email), code);
  t.equal(replay.status, 400);
  t.equal(replay.body.code, 'invalid_code');
});

t.test('one ticket redeemed on both instances at once: one session', async (t) => {
  const u = await mfaUser(a);
  const shared = await ticket(a, u.email);
  const [x, y] = await Promise.all([redeem(a, shared, codeOf(u.secret)), redeem(b, shared, codeOf(u.secret, new Date(), 1))]);
  t.same([x.status, y.status].sort(), [200, 401], JSON.stringify([x.body?.code, y.body?.code]));
});

t.test('wrong codes spread over both instances are counted together', async (t) => {
  const u = await mfaUser(b);
  const right = codeOf(u.secret, new Date(), 1);
  const wrong = right === '000000' ? '000001' : '000000';
  const tickets = await Promise.all([ticket(a, u.email), ticket(b, u.email)]);
  const answers = await Promise.all(Array.from({ length: 10 }, (_, i) => redeem(i % 2 ? a : b, tickets[i % 2] as string, wrong)));
  const statuses = answers.map((r) => r.status);
  t.equal(statuses.filter((s) => s === 400).length, 3, `3 checked: ${statuses.join(' ')}`);
  t.equal(statuses.filter((s) => s === 429).length, 7);
  t.equal((await redeem(a, tickets[0] as string, right)).status, 429, 'locked on both');
});
