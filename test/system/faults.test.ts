/**
 * Faults under load, with real processes: an instance killed with SIGKILL while clients
 * chain refreshes and register, and PostgreSQL cut off (a TCP proxy between the instances
 * and the server, never the shared server itself) and restored. Nothing acknowledged is
 * lost; with a reuse grace no client loses its session to a retry; during the outage the
 * answers are 503, never another 5xx, and the service recovers without a restart.
 */
import t from 'tap';
import { setTimeout as sleep } from 'node:timers/promises';
import { call, startCluster, type Instance } from '../helpers/instances.js';
import { startTcpProxy, type TcpProxy } from '../helpers/tcpProxy.js';

const PASSWORD = 'correct horse battery staple';
const LOAD = { LOGIN_RATE_PER_IP_PER_MINUTE: '1000000', REGISTER_RATE_PER_IP_PER_MINUTE: '1000000' };
let serial = 0;
const newEmail = (what: string) => `${what}.${process.pid}.${++serial}.${Date.now()}@example.com`;

/** Requests whose answer was lost (connection refused or reset) and were sent again elsewhere. */
let resent = 0;

/** Sends to the first instance that answers, starting at `start`; a dead one throws at connect. */
async function callAny(live: () => Instance[], start: number, method: string, path: string, body?: unknown) {
  let lastError: unknown;
  for (let i = 0; i < 3; i++) {
    const instances = live();
    const on = instances[(start + i) % instances.length] as Instance;
    try {
      return await call(on, method, path, body);
    } catch (e) {
      lastError = e; // connection refused or reset: the instance is gone, the answer was lost
      resent++;
    }
  }
  throw lastError;
}

void t.test('kill -9 of an instance under refresh and register load', async (t) => {
  const cluster = await startCluster(t, 3, { ...LOAD, REFRESH_REUSE_GRACE_SECONDS: '5' });
  if (!cluster) return t.comment('no PostgreSQL server');
  const [a] = cluster.instances as [Instance, Instance, Instance];
  let dead = false;
  const live = () => cluster.instances.filter((i) => !(dead && i === a));

  const CLIENTS = 30;
  const ROUNDS = 40;
  const acknowledged: string[] = [];
  let refreshed = 0;
  const sessions = await Promise.all(Array.from({ length: CLIENTS }, async (_, i) => {
    const r = await callAny(live, i, 'POST', '/v1/auth/register', { email: newEmail('chain'), password: PASSWORD });
    return { token: r.body.refresh_token as string, retries: 0, lost: '' };
  }));

  const chains = sessions.map(async (s, i) => {
    for (let round = 0; round < ROUNDS && !s.lost; round++) {
      try {
        const r = await callAny(live, i + round, 'POST', '/v1/auth/refresh', { refresh_token: s.token });
        refreshed++;
        if (r.status === 200) s.token = r.body.refresh_token;
        else if (r.status !== 503) s.lost = `${r.status} ${r.body?.code}`;
      } catch {
        s.retries++; // every instance tried refused: try again with the same token
      }
      await sleep(10);
    }
  });
  const registering = (async () => {
    for (let i = 0; i < 40; i++) {
      const email = newEmail('acked');
      try {
        const r = await callAny(live, i, 'POST', '/v1/auth/register', { email, password: PASSWORD });
        if (r.status === 201) acknowledged.push(email);
      } catch {
        // no answer: not acknowledged
      }
      await sleep(15);
    }
  })();
  // Kill mid-load (a few rounds in, however slow the machine), and tell the "load balancer"
  // only afterwards: requests in flight or sent meanwhile lose their answer.
  const killBy = Date.now() + 20_000;
  while (refreshed < CLIENTS * 3 && Date.now() < killBy) await sleep(5);
  await a.kill('SIGKILL');
  // The balancer notices a moment later (a health check's interval): requests sent to the dead
  // instance meanwhile lose their answer too. Without it a kill that happened to find no
  // request in flight there left nothing to resend, and the test nothing to check.
  await sleep(200);
  dead = true;
  await Promise.all([...chains, registering]);

  t.ok(resent > 0, `${resent} requests lost their answer to the kill and were sent again to another instance`);
  const lost = sessions.filter((s) => s.lost);
  t.same(lost.map((s) => s.lost), [], 'no client lost its session (retries of a token whose answer was lost are within the grace)');
  const alive = await Promise.all(sessions.map((s, i) => callAny(live, i, 'POST', '/v1/auth/refresh', { refresh_token: s.token })));
  t.ok(alive.every((r) => r.status === 200), 'every client\'s last token still refreshes');
  t.ok(acknowledged.length > 10, `${acknowledged.length} registrations acknowledged`);
  const logins = await Promise.all(acknowledged.map((email, i) => callAny(live, i, 'POST', '/v1/auth/login', { email, password: PASSWORD })));
  t.same(logins.filter((r) => r.status !== 200).map((r) => r.status), [], 'every acknowledged registration is there');
});

void t.test('PostgreSQL cut off and back under load: 503 meanwhile, recovery without restart, nothing acknowledged lost', async (t) => {
  let proxy: TcpProxy | undefined;
  const cluster = await startCluster(t, 2, LOAD, {
    databaseUrl: async (url) => {
      const u = new URL(url);
      proxy = await startTcpProxy(t, { host: u.hostname, port: Number(u.port || 5432) });
      u.host = `127.0.0.1:${proxy.port}`;
      return u.toString();
    },
  });
  if (!cluster || !proxy) return t.comment('no PostgreSQL server');
  const px = proxy;
  const live = () => cluster.instances;
  const acknowledged: string[] = [];
  const statuses = new Map<number, number>();
  let stop = false;
  const chain = (await call(cluster.instances[0] as Instance, 'POST', '/v1/auth/register', { email: newEmail('outage'), password: PASSWORD })).body;
  let token = chain.refresh_token as string;

  const load = (async () => {
    for (let i = 0; !stop && i < 400; i++) {
      const email = newEmail('through');
      const [reg, ref] = await Promise.all([
        callAny(live, i, 'POST', '/v1/auth/register', { email, password: PASSWORD }),
        callAny(live, i + 1, 'POST', '/v1/auth/refresh', { refresh_token: token }),
      ]);
      for (const s of [reg.status, ref.status]) statuses.set(s, (statuses.get(s) ?? 0) + 1);
      if (reg.status === 201) acknowledged.push(email);
      if (ref.status === 200) token = ref.body.refresh_token;
      await sleep(20);
    }
  })();
  await sleep(500);
  px.cut();
  await sleep(1500);
  const during = await call(cluster.instances[1] as Instance, 'GET', '/health/ready');
  t.equal(during.status, 503, '/health/ready says 503 while the database is away');
  const refused = await call(cluster.instances[0] as Instance, 'POST', '/v1/auth/register', { email: newEmail('during'), password: PASSWORD });
  t.equal(refused.status, 503, 'a write meanwhile: 503');
  t.equal(refused.body?.code, 'unavailable');
  px.restore();
  const deadline = Date.now() + 20_000;
  for (const instance of cluster.instances) {
    while ((await call(instance, 'GET', '/health/ready')).status !== 200) {
      if (Date.now() > deadline) throw new Error(`${instance.name} did not recover`);
      await sleep(100);
    }
  }
  t.pass('both instances ready again, without a restart');
  await sleep(500);
  stop = true;
  await load;

  const codes = [...statuses.keys()].sort();
  t.ok(codes.every((s) => s === 200 || s === 201 || s === 503), `only 200, 201 and 503 were answered: ${JSON.stringify(Object.fromEntries(statuses))}`);
  const logins = await Promise.all(acknowledged.map((email, i) => callAny(live, i, 'POST', '/v1/auth/login', { email, password: PASSWORD })));
  t.same(logins.filter((r) => r.status !== 200).map((r) => r.status), [], `all ${acknowledged.length} acknowledged registrations are there`);
  t.equal((await call(cluster.instances[0] as Instance, 'POST', '/v1/auth/refresh', { refresh_token: token })).status, 200,
    'the last acknowledged refresh token works');
});
