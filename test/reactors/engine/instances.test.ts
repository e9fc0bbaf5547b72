/**
 * Several instances of the reactor engine on one PostgreSQL database (each with its own
 * pool): one acts for a reactor at a time, every event acted on once overall; a standby
 * takes over when the holder stops (at once: the lease is given up) or loses the database
 * (once its lease ran out), from the checkpoint, and the instance cut off acts on nothing
 * more; failed attempts go on counting across a takeover.
 */
import t from 'tap';
import { PgSql } from '../../../src/infra/sql/pg.js';
import { openEnv, until, Writer } from '../../helpers/projections.js';
import { behindProxy, makeRunner, positions, recorder, register, row, serverUrl } from './fixtures/index.js';

void t.test('two instances: each event acted on once overall, one active; the standby takes over when the holder stops', async (t) => {
  const env = await openEnv(t);
  const sql2 = new PgSql({ connectionString: serverUrl(env), max: 3 });
  t.teardown(() => sql2.close());
  const w = new Writer(env);
  const one = recorder('shared');
  const two = recorder('shared');
  const a = makeRunner(t, env, [one.reactor], { instanceId: 'instance-a', leaseMs: 3000 });
  const b = makeRunner(t, { ...env, sql: sql2 }, [two.reactor], { instanceId: 'instance-b', leaseMs: 3000 });
  await Promise.all([a.runner.start(), b.runner.start()]);
  const first = await register(w, 8);
  t.ok(await a.runner.waitFor('shared', first.at(-1) ?? 0n, 10_000));
  const statuses = [...await a.runner.status(), ...await b.runner.status()];
  t.equal(statuses.filter((s) => s.active).length, 1, 'one instance holds the lease, the other stands by');
  t.equal(one.seen.length + two.seen.length, 8, 'every event once overall');
  t.ok(one.seen.length === 0 || two.seen.length === 0, 'all by one instance');
  const [holder, standby, standbySeen] = one.seen.length > 0 ? [a, b, two] : [b, a, one];
  const stoppedAt = Date.now();
  await holder.runner.stop(); // gives the lease up
  standby.runner.nudge(); // as an append on that instance would
  t.ok(await until(async () => (await standby.runner.status())[0]?.active === true, 5000), 'the standby holds it now');
  t.ok(Date.now() - stoppedAt < 2500, `taken over in ${Date.now() - stoppedAt} ms, before the 3 s lease would have run out`);
  const rest = await register(w, 4);
  t.ok(await standby.runner.waitFor('shared', rest.at(-1) ?? 0n, 10_000), 'the standby delivers the rest');
  t.strictSame(positions(standbySeen.seen), rest.map(String), 'from the checkpoint: nothing lost, nothing repeated');
  t.equal(one.seen.length + two.seen.length, 12, 'still once each');
});

void t.test('the holder loses the database: the standby continues once the lease ran out; the cut-off one acts on nothing more', async (t) => {
  const env = await openEnv(t);
  const w = new Writer(env);
  const far = await behindProxy(t, env);
  const cut = recorder('fenced');
  const near = recorder('fenced');
  const a = makeRunner(t, far, [cut.reactor], { instanceId: 'far' });
  await a.runner.start();
  t.ok(await until(async () => (await a.runner.status())[0]?.active === true, 5000), 'the first instance holds the lease');
  const b = makeRunner(t, env, [near.reactor], { instanceId: 'near' });
  await b.runner.start();
  const before = await register(w, 3);
  t.ok(await b.runner.waitFor('fenced', before[2] ?? 0n, 10_000));
  t.equal(cut.seen.length, 3, 'acted on by the holder');
  far.proxy.cut();
  const during = await register(w, 3);
  t.ok(await b.runner.waitFor('fenced', during[2] ?? 0n, 10_000), 'the standby takes over after the lease ran out');
  t.equal((await row(env, 'fenced'))?.owner, 'near');
  far.proxy.restore();
  const after = await register(w, 2);
  t.ok(await b.runner.waitFor('fenced', after[1] ?? 0n, 10_000));
  await new Promise((resolve) => setTimeout(resolve, 300)); // time for the cut-off instance to come back
  t.strictSame(positions(cut.seen), before.map(String), 'the instance cut off acted on nothing after losing the lease');
  t.strictSame(positions(near.seen), [...during, ...after].map(String), 'the standby on everything since, in order');
  t.strictSame([...await a.runner.status(), ...await b.runner.status()].map((s) => [s.name, s.active]), [['fenced', false], ['fenced', true]]);
});

void t.test('failed attempts go on counting on the instance that takes over', async (t) => {
  const env = await openEnv(t);
  const sql2 = new PgSql({ connectionString: serverUrl(env), max: 3 });
  t.teardown(() => sql2.close());
  const w = new Writer(env);
  const one = recorder('counting');
  const a = makeRunner(t, env, [one.reactor], { instanceId: 'a', retryFirstDelayMs: 50, retryMaxDelayMs: 50 });
  await a.runner.start();
  one.fail(1000);
  const [event] = await register(w, 1);
  t.ok(await until(() => one.calls.length >= 2, 5000));
  await a.runner.stop();
  const attempts = one.calls.length;
  const two = recorder('counting');
  const b = makeRunner(t, { ...env, sql: sql2 }, [two.reactor], { instanceId: 'b' });
  await b.runner.start();
  t.ok(await b.runner.waitFor('counting', event ?? 0n, 10_000));
  t.strictSame(two.calls.map((c) => c.attempt), [attempts + 1], 'its attempt number continues the count');
});

void t.test('a reaction slower than the lease keeps it: renewed meanwhile, the standby does not step in', async (t) => {
  const env = await openEnv(t);
  const sql2 = new PgSql({ connectionString: serverUrl(env), max: 3 });
  t.teardown(() => sql2.close());
  const w = new Writer(env);
  const slow = recorder('slow');
  const other = recorder('slow');
  const a = makeRunner(t, env, [slow.reactor], { instanceId: 'a' }); // 600 ms lease
  await a.runner.start();
  t.ok(await until(async () => (await a.runner.status())[0]?.active === true, 5000));
  const b = makeRunner(t, { ...env, sql: sql2 }, [other.reactor], { instanceId: 'b' });
  await b.runner.start();
  slow.hold();
  const events = await register(w, 2);
  t.ok(await until(() => slow.calls.length === 1, 5000));
  await new Promise((resolve) => setTimeout(resolve, 1500)); // two and a half leases
  t.equal((await row(env, 'slow'))?.owner, 'a', 'still the holder');
  slow.release();
  t.ok(await a.runner.waitFor('slow', events[1] ?? 0n, 10_000));
  t.strictSame(positions(slow.seen), events.map(String));
  t.strictSame(other.calls, [], 'the standby acted on nothing');
});
