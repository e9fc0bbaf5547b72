/**
 * Reactors added and removed while the engine runs (as webhook endpoints come and go):
 * names checked, a removed reactor acts on nothing and gives its lease up at once but keeps
 * its checkpoint, added again it resumes there; a rewind acts again on what followed a
 * position.
 */
import t from 'tap';
import { PgSql } from '../../../src/infra/sql/pg.js';
import { openEnv, until, Writer } from '../../helpers/projections.js';
import { makeRunner, positions, recorder, register, row, serverUrl, sleep } from './fixtures/index.js';

void t.test('add and remove at run time; the checkpoint outlives the reactor', async (t) => {
  const env = await openEnv(t);
  const w = new Writer(env);
  const { runner } = makeRunner(t, env, []);
  await runner.start();
  t.strictSame(await runner.status(), [], 'nothing runs yet');
  const late = recorder('late');
  await runner.add(late.reactor);
  await t.rejects(runner.add(recorder('late').reactor), /exists/, 'names are unique');
  await t.rejects(runner.add(recorder('Bad Name!').reactor), /name/, 'and of a safe shape');
  await t.rejects(runner.add(recorder('no-types', { types: [] }).reactor), /at least one event type/, 'an empty type list is refused, not read as "all"');
  const [one] = await register(w, 1);
  t.ok(await runner.waitFor('late', one ?? 0n, 10_000), 'acts from the head at the time it was added');
  await runner.remove('late');
  await runner.remove('late'); // twice: nothing more happens
  t.strictSame(await runner.status(), [], 'removed');
  t.match(await row(env, 'late'), { position: one, owner: null }, 'its checkpoint kept, its lease given up');
  const missed = await register(w, 2);
  runner.nudge();
  await sleep(200);
  t.strictSame(positions(late.seen), [String(one)], 'a removed reactor acts on nothing');
  const again = recorder('late');
  await runner.add(again.reactor);
  t.ok(await runner.waitFor('late', missed[1] ?? 0n, 10_000));
  t.strictSame(positions(again.seen), missed.map(String), 'added again, it resumes from its kept checkpoint');
});

void t.test('remove() lets a standby on another instance take over at once', async (t) => {
  const env = await openEnv(t);
  const sql2 = new PgSql({ connectionString: serverUrl(env), max: 3 });
  t.teardown(() => sql2.close());
  const w = new Writer(env);
  const here = recorder('endpoint');
  const there = recorder('endpoint');
  const a = makeRunner(t, env, [here.reactor], { instanceId: 'a', leaseMs: 10_000 });
  await a.runner.start();
  t.ok(await until(async () => (await a.runner.status())[0]?.active === true, 5000));
  const b = makeRunner(t, { ...env, sql: sql2 }, [there.reactor], { instanceId: 'b', leaseMs: 10_000 });
  await b.runner.start();
  const [first] = await register(w, 1);
  t.ok(await a.runner.waitFor('endpoint', first ?? 0n, 10_000));
  const removedAt = Date.now();
  await a.runner.remove('endpoint');
  b.runner.nudge();
  t.ok(await until(async () => (await b.runner.status())[0]?.active === true, 5000), 'taken over');
  t.ok(Date.now() - removedAt < 3000, `in ${Date.now() - removedAt} ms, long before the 10 s lease would have run out`);
  const [second] = await register(w, 1);
  b.runner.nudge();
  t.ok(await b.runner.waitFor('endpoint', second ?? 0n, 10_000));
  t.strictSame([positions(here.seen), positions(there.seen)], [[String(first)], [String(second)]], 'once each, nothing repeated');
});

void t.test('rewind() acts again on every event after a position', async (t) => {
  const env = await openEnv(t);
  const w = new Writer(env);
  const r = recorder('replayed', { startFrom: 'beginning' });
  const { runner } = makeRunner(t, env, [r.reactor]);
  await runner.start();
  const events = await register(w, 3);
  t.ok(await runner.waitFor('replayed', events[2] ?? 0n, 10_000));
  t.equal(await runner.rewind('replayed', events[0] ?? 0n), true);
  t.equal(await runner.rewind('no-such-reactor', 0n), false);
  t.ok(await until(() => r.seen.length === 5, 10_000), 'the events after it once more');
  t.strictSame(positions(r.seen), [...events, events[1], events[2]].map(String));
  // The checkpoint is written after the handler returns: wait for it, do not race it.
  t.ok(await until(async () => (await row(env, 'replayed'))?.position === events[2], 10_000), 'the checkpoint back at the head');
});
