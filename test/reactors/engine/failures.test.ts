/**
 * The reactor engine when things fail, against the real PostgreSQL: a reaction that throws
 * is retried with growing delays and holds the later events, visible in status with a
 * reason that quotes nothing; the database out of reach is waited out; a reaction that
 * hangs does not hold stop() up.
 */
import t from 'tap';
import { openEnv, until, Writer } from '../../helpers/projections.js';
import { behindProxy, makeRunner, positions, recorder, register, row, sleep } from './fixtures/index.js';

void t.test('a failing reaction is retried with backoff, holds the later events, shows in status; then all pass in order', async (t) => {
  const env = await openEnv(t);
  const w = new Writer(env);
  const r = recorder('flaky');
  const { runner, log } = makeRunner(t, env, [r.reactor], { retryFirstDelayMs: 40, retryMaxDelayMs: 160 });
  await runner.start();
  r.fail(5);
  const events = await register(w, 2);
  t.ok(await until(async () => (await runner.status())[0]?.failing?.attempts === 3, 10_000), 'status counts the attempts');
  const [stuck] = await runner.status();
  t.match(stuck, { active: true, position: /^\d+$/, failing: { position: String(events[0]), attempts: 3, since: /^\d{4}-/ } });
  t.match(stuck?.failing?.reason, /^Error: the "…" for UserRegistered is down$/, 'error name and message, quoted values blanked');
  t.strictSame(r.seen, [], 'the later event waits');
  t.ok(await runner.waitFor('flaky', events[1] ?? 0n, 10_000));
  t.strictSame(positions(r.seen), events.map(String), 'then both, in order, once');
  t.strictSame(r.calls.map((c) => c.attempt), [1, 2, 3, 4, 5, 6, 1], 'attempt numbers as the reactor saw them');
  const gaps = r.calls.slice(1, 6).map((c, i) => c.at - (r.calls[i]?.at ?? 0));
  const delays = [40, 80, 160, 160, 160];
  t.ok(gaps.every((gap, i) => gap >= (delays[i] ?? 0) * 0.9), `waits grow, then stay at the max: ${gaps.map(Math.round).join(', ')} ms`);
  t.equal((await runner.status())[0]?.failing, null, 'no longer failing');
  t.equal((await row(env, 'flaky'))?.failing, null, 'cleared in the table');
  t.equal(log.errors.length, 5, 'each failure logged');
  t.match(log.errors[0]?.obj, { reactor: 'flaky', position: String(events[0]), attempt: 1, reason: /the "…"/ });
  t.notMatch(JSON.stringify(log.errors), /mail server/, 'no quoted value in the log either');
});

void t.test('the database out of reach: the runner waits, then resumes by itself; nothing lost or repeated', async (t) => {
  const env = await openEnv(t);
  const w = new Writer(env);
  const far = await behindProxy(t, env);
  const r = recorder('patient');
  const { runner, log } = makeRunner(t, far, [r.reactor]);
  await runner.start();
  const before = await register(w, 2);
  t.ok(await runner.waitFor('patient', before[1] ?? 0n, 10_000));
  far.proxy.cut();
  const during = await register(w, 3); // written by another connection: this runner cannot see them yet
  t.ok(await until(() => log.warnings.length > 0, 10_000), 'it says once that it waits');
  await sleep(400);
  t.equal(r.seen.length, 2, 'nothing acted on while out of reach');
  far.proxy.restore();
  t.ok(await until(async () => (await row(env, 'patient'))?.position === during[2], 15_000), 'resumed by itself');
  t.strictSame(positions(r.seen), [...before, ...during].map(String), 'every event once, in order');
  t.equal(log.errors.length, 0, 'an outage is no error');
  t.equal(log.warnings.length, 1, 'warned once for the whole outage');
  t.ok(log.infos.some((i) => /reachable again/.test(i.msg)), 'and said when it was over');
});

void t.test('stop() abandons a reaction that hangs; its lease runs out, then a standby repeats that event', async (t) => {
  const env = await openEnv(t);
  const w = new Writer(env);
  const hung = recorder('stuck');
  const a = makeRunner(t, env, [hung.reactor], { instanceId: 'a', stopGraceMs: 100, leaseMs: 1500 });
  await a.runner.start();
  hung.hold();
  const [first, second] = await register(w, 2);
  t.ok(await until(() => hung.calls.length === 1, 10_000), 'the reaction has started');
  const started = Date.now();
  await a.runner.stop();
  t.ok(Date.now() - started < 1000, `stop() returned after ${Date.now() - started} ms`);
  t.equal(a.log.warnings.length, 1, 'said so');
  t.equal((await row(env, 'stuck'))?.owner, 'a', 'the lease is kept until it runs out: no standby repeats it at once');
  const standby = recorder('stuck');
  const b = makeRunner(t, env, [standby.reactor], { instanceId: 'b', leaseMs: 1500 });
  await b.runner.start();
  t.ok(await b.runner.waitFor('stuck', second ?? 0n, 10_000), 'the standby takes over once the lease ran out');
  t.strictSame(positions(standby.seen), [first, second].map(String), 'at least once: the abandoned event is repeated');
  hung.release(); // the abandoned reaction ends at last
  await sleep(200);
  t.strictSame(positions(hung.seen), [String(first)], 'the abandoned loop acts on nothing more');
  t.equal((await row(env, 'stuck'))?.owner, 'b', 'and does not take the lease back');
});
