/**
 * The reactor engine against the real PostgreSQL: at least once and in order, only the
 * declared types, never acting on history it was not asked to, resuming after a restart,
 * retrying a failing reaction with backoff (visible in status), one active instance per
 * reactor with a standby that takes over, reactors added and removed at run time.
 */
import t from 'tap';
import { randomUUID } from 'node:crypto';
import { PgSql } from '../../../src/infra/sql/pg.js';
import type { Decoded } from '../../../src/ports/events.js';
import type { Reactor } from '../../../src/ports/reactors.js';
import { ReactorRunner, type ReactorRunnerOptions } from '../../../src/reactors/engine/reactorRunner.js';
import { TestLog, Writer, openEnv, until, type Env } from '../../helpers/projections.js';

/** A reactor that writes down what it acted on; `failTimes` reactions throw first. */
function recorder(name: string, options: Partial<Pick<Reactor, 'types' | 'startFrom'>> & { failTimes?: number } = {}) {
  const seen: Decoded[] = [];
  const attempts: number[] = [];
  let failures = options.failTimes ?? 0;
  const reactor: Reactor = {
    name,
    ...(options.types ? { types: options.types } : {}),
    ...(options.startFrom ? { startFrom: options.startFrom } : {}),
    async react(event, attempt) {
      attempts.push(attempt);
      if (failures > 0) {
        failures -= 1;
        throw new Error(`the "mail server" for ${event.type} is down`);
      }
      seen.push(event);
    },
  };
  return { reactor, seen, attempts };
}

const runner = (env: Env, t: Tap, reactors: Reactor[], extra: Partial<ReactorRunnerOptions> = {}) => {
  const log = new TestLog();
  const r = new ReactorRunner({
    sql: env.sql, store: env.store, codec: env.codec, reactors, log, leaseMs: 600, pollIntervalMs: 30,
    retryFirstDelayMs: 20, retryMaxDelayMs: 100, ...extra,
  });
  t.teardown(() => r.stop());
  return { runner: r, log };
};
type Tap = Parameters<Parameters<typeof t.test>[0]>[0];

const disable = (w: Writer, id: string) => w.user(id, [{ type: 'UserDisabled', data: { user_id: id } }]);

void t.test('in order, at least once, only the declared types; the checkpoint is stored', async (t) => {
  const env = await openEnv(t);
  const w = new Writer(env);
  const history = randomUUID();
  await w.register(history, { email: 'old@x.org' }); // before the reactor exists: not acted on
  const r = recorder('disables', { types: ['UserDisabled'] });
  const all = recorder('everything', { startFrom: 'beginning' });
  const { runner: run } = runner(env, t, [r.reactor, all.reactor]);
  await run.start();
  const ids = [randomUUID(), randomUUID(), randomUUID()];
  for (const id of ids) await w.register(id, { email: `${id}@x.org` });
  let last = 0n;
  for (const id of ids) last = (await disable(w, id)).position;
  t.ok(await run.waitFor('disables', last, 5000));
  t.strictSame(r.seen.map((e) => [e.type, (e.data as { user_id: string }).user_id]), ids.map((id) => ['UserDisabled', id]), 'in log order, only its type');
  t.ok(await run.waitFor('everything', last, 5000));
  t.equal(all.seen.length, 7, '"beginning": the history too (1 + 3 registrations + 3 disables)');
  const [status] = (await run.status()).filter((s) => s.name === 'disables');
  t.match(status, { name: 'disables', position: last.toString(), active: true, failing: null });
});

void t.test('restart resumes after the checkpoint: nothing acted on twice, nothing skipped', async (t) => {
  const env = await openEnv(t);
  const w = new Writer(env);
  const first = recorder('mailer');
  const a = runner(env, t, [first.reactor]);
  await a.runner.start();
  const ids = Array.from({ length: 4 }, () => randomUUID());
  let pos = 0n;
  for (const id of ids.slice(0, 2)) pos = (await w.register(id, {})).position;
  t.ok(await a.runner.waitFor('mailer', pos, 5000));
  await a.runner.stop();
  for (const id of ids.slice(2)) pos = (await w.register(id, {})).position;
  const second = recorder('mailer');
  const b = runner(env, t, [second.reactor]);
  await b.runner.start();
  t.ok(await b.runner.waitFor('mailer', pos, 5000));
  const users = (xs: Decoded[]) => xs.map((e) => (e.data as { user_id: string }).user_id);
  t.strictSame(users(first.seen), ids.slice(0, 2));
  t.strictSame(users(second.seen), ids.slice(2), 'the second run starts where the first stopped');
});

void t.test('a failing reaction is retried with backoff, holds the later events, shows in status', async (t) => {
  const env = await openEnv(t);
  const w = new Writer(env);
  const r = recorder('flaky', { failTimes: 4 });
  const { runner: run, log } = runner(env, t, [r.reactor]);
  await run.start();
  const a = randomUUID();
  const b = randomUUID();
  await w.register(a, {});
  const last = (await w.register(b, {})).position;
  t.ok(await until(async () => (await run.status())[0]?.failing?.attempts === 3, 5000), 'status counts the attempts');
  const [stuck] = await run.status();
  t.match(stuck?.failing, { attempts: 3, reason: /Error: the "…" for UserRegistered is down/ });
  t.strictSame(r.seen, [], 'the later event waits');
  t.ok(await run.waitFor('flaky', last, 5000));
  t.strictSame(r.seen.map((e) => (e.data as { user_id: string }).user_id), [a, b], 'then both, in order, once');
  t.strictSame(r.attempts, [1, 2, 3, 4, 5, 1], 'attempt numbers as the reactor saw them');
  t.equal((await run.status())[0]?.failing, null, 'no longer failing');
  t.equal(log.errors.length, 4, 'each failure logged');
  t.notMatch(JSON.stringify(log.errors), /"the "mail server"/, 'the reason has quoted values blanked');
});

void t.test('two instances: each event acted on once, one active; the standby takes over', async (t) => {
  const env = await openEnv(t);
  const sql2 = new PgSql({ connectionString: env.url ?? '', max: 3 });
  t.teardown(() => sql2.close());
  const w = new Writer(env);
  const one = recorder('shared');
  const two = recorder('shared');
  const a = runner(env, t, [one.reactor], { instanceId: 'instance-a' });
  const b = runner(env, t, [two.reactor], { instanceId: 'instance-b', sql: sql2 });
  await a.runner.start();
  await b.runner.start();
  let pos = 0n;
  for (let i = 0; i < 10; i++) pos = (await w.register(randomUUID(), {})).position;
  t.ok(await a.runner.waitFor('shared', pos, 5000));
  const actives = [...await a.runner.status(), ...await b.runner.status()].filter((s) => s.active);
  t.equal(actives.length, 1, 'one instance holds the lease');
  const [holder, standby] = one.seen.length > 0 ? [a, b] : [b, a];
  t.equal(one.seen.length + two.seen.length, 10, 'every event once overall');
  await holder.runner.stop(); // releases its lease: the standby takes over at once
  for (let i = 0; i < 5; i++) pos = (await w.register(randomUUID(), {})).position;
  t.ok(await standby.runner.waitFor('shared', pos, 5000), 'the standby delivers the rest');
  t.equal(one.seen.length + two.seen.length, 15, 'still once each');
  t.ok((await standby.runner.status())[0]?.active);
});

void t.test('add and remove at run time; nudge wakes a long poll', async (t) => {
  const env = await openEnv(t);
  const w = new Writer(env);
  const { runner: run } = runner(env, t, [], { pollIntervalMs: 60_000 });
  await run.start();
  const r = recorder('late');
  await run.add(r.reactor);
  await t.rejects(run.add(recorder('late').reactor), /exists/);
  await t.rejects(run.add(recorder('Bad Name!').reactor), /name/);
  await new Promise((resolve) => setTimeout(resolve, 100)); // its first (empty) read is done: now it sleeps a minute
  const pos = (await w.register(randomUUID(), {})).position;
  run.nudge();
  t.ok(await run.waitFor('late', pos, 2000), 'a nudge ends the long poll');
  t.equal(r.seen.length, 1);
  await run.remove('late');
  t.strictSame(await run.status(), [], 'removed');
  const pos2 = (await w.register(randomUUID(), {})).position;
  run.nudge();
  await new Promise((resolve) => setTimeout(resolve, 200));
  t.equal(r.seen.length, 1, 'a removed reactor acts on nothing');
  const again = recorder('late');
  await run.add(again.reactor);
  t.ok(await run.waitFor('late', pos2, 2000));
  t.equal(again.seen.length, 1, 'added again, it resumes from its kept checkpoint');
});
