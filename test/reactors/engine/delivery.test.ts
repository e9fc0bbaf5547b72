/**
 * The reactor engine delivering, against the real PostgreSQL: in log order, only the
 * declared types, the checkpoint stored (past the events it skips too); where a reactor
 * seen for the first time starts; a restart resuming after the checkpoint; a nudge ending
 * a long poll.
 */
import t from 'tap';
import { randomUUID } from 'node:crypto';
import { openEnv, Writer } from '../../helpers/projections.js';
import { makeRunner, positions, recorder, register, row, sleep } from './fixtures/index.js';

const userOf = (e: { data: unknown }): string => (e.data as { user_id: string }).user_id;

void t.test('in log order, once each, only the declared types; the checkpoint is stored past the rest', async (t) => {
  const env = await openEnv(t);
  const w = new Writer(env);
  const disables = recorder('disables', { types: ['UserDisabled'] });
  const all = recorder('everything');
  const { runner } = makeRunner(t, env, [disables.reactor, all.reactor], { instanceId: 'instance-a', batchSize: 2 });
  await runner.start();
  const ids = [randomUUID(), randomUUID(), randomUUID()];
  const wanted: bigint[] = [];
  for (const id of ids) {
    await w.register(id, {});
    wanted.push((await w.user(id, [{ type: 'UserDisabled', data: { user_id: id } }])).position);
  }
  const [tail] = await register(w, 1); // after the last event of its types
  t.ok(await runner.waitFor('disables', tail ?? 0n, 10_000), 'its checkpoint passes the events it does not act on');
  t.ok(await runner.waitFor('everything', tail ?? 0n, 10_000));
  t.strictSame(positions(disables.seen), wanted.map(String), 'in log order, only its type (batches of 2)');
  t.strictSame(disables.seen.map(userOf), ids);
  t.equal(all.seen.length, 7, 'a reactor without types acts on every event');
  t.strictSame(positions(all.seen), [...positions(all.seen)].sort((a, b) => (BigInt(a) < BigInt(b) ? -1 : 1)), 'in order');
  t.equal(new Set(all.calls.map((c) => c.position)).size, all.calls.length, 'none twice');
  t.match(await row(env, 'disables'), { position: tail, owner: 'instance-a', failing: null }, 'stored, with this instance as the lease owner');
  t.match(await runner.status(), [
    { name: 'disables', position: String(tail), active: true, failing: null },
    { name: 'everything', position: String(tail), active: true, failing: null },
  ]);
});

void t.test("first sight: 'head' acts on no history, 'beginning' on all of it, startAfter after that position", async (t) => {
  const env = await openEnv(t);
  const w = new Writer(env);
  const history = await register(w, 3);
  const head = recorder('from-head');
  const explicit = recorder('explicit-head', { startFrom: 'head' });
  const beginning = recorder('from-beginning', { startFrom: 'beginning' });
  const after = recorder('after-second', { startAfter: history[1] ?? 0n });
  const { runner } = makeRunner(t, env, [head.reactor, explicit.reactor, beginning.reactor, after.reactor]);
  await runner.start();
  t.equal((await row(env, 'from-head'))?.position, history[2], "'head' (the default): the row starts at the newest event");
  // 'beginning' starts at 0, but may already have moved by now: what it acted on is checked below.
  const fresh = await register(w, 2);
  const last = fresh[1] ?? 0n;
  for (const name of ['from-head', 'explicit-head', 'from-beginning', 'after-second']) t.ok(await runner.waitFor(name, last, 10_000), name);
  t.strictSame(positions(head.seen), fresh.map(String), 'only what came after');
  t.strictSame(positions(explicit.seen), fresh.map(String));
  t.strictSame(positions(beginning.seen), [...history, ...fresh].map(String), 'the whole log, in order');
  t.strictSame(positions(after.seen), [history[2], ...fresh].map(String));
});

void t.test('a restart resumes after the checkpoint: nothing acted on twice, nothing skipped', async (t) => {
  const env = await openEnv(t);
  const w = new Writer(env);
  const first = recorder('mailer');
  const a = makeRunner(t, env, [first.reactor]);
  await a.runner.start();
  const before = await register(w, 2);
  t.ok(await a.runner.waitFor('mailer', before[1] ?? 0n, 10_000));
  await a.runner.stop();
  t.equal((await row(env, 'mailer'))?.owner, null, 'stop gives the lease up');
  const during = await register(w, 3); // while no instance runs it
  const second = recorder('mailer'); // 'head' by default: it has a row, so that no longer matters
  const b = makeRunner(t, env, [second.reactor]);
  await b.runner.start();
  t.ok(await b.runner.waitFor('mailer', during[2] ?? 0n, 10_000));
  t.strictSame(positions(first.seen), before.map(String));
  t.strictSame(positions(second.seen), during.map(String), 'the second run starts where the first stopped');
  t.strictSame(second.calls.map((c) => c.attempt), [1, 1, 1]);
  // The same runner can be started again after stop().
  await b.runner.stop();
  const later = await register(w, 1);
  await b.runner.start();
  t.ok(await b.runner.waitFor('mailer', later[0] ?? 0n, 10_000), 'started again, it resumes');
  t.strictSame(positions(second.seen), [...during, ...later].map(String));
});

void t.test('nudge() ends a long poll: delivered at once', async (t) => {
  const env = await openEnv(t);
  const w = new Writer(env);
  const r = recorder('prompt');
  const { runner } = makeRunner(t, env, [r.reactor], { pollIntervalMs: 60_000 });
  await runner.start();
  await sleep(150); // its first (empty) read is done: now it sleeps a minute
  const [quiet] = await register(w, 1);
  await sleep(300);
  t.equal(r.seen.length, 0, 'without a nudge it waits for the next poll');
  const started = Date.now();
  runner.nudge();
  runner.nudge(); // nudges that come together wake it once
  t.ok(await runner.waitFor('prompt', quiet ?? 0n, 5000));
  t.ok(Date.now() - started < 2000, `delivered ${Date.now() - started} ms after the nudge`);
  const [busy] = await register(w, 1);
  runner.nudge();
  t.ok(await runner.waitFor('prompt', busy ?? 0n, 5000), 'and again');
  t.strictSame(positions(r.seen), [quiet, busy].map(String));
});
