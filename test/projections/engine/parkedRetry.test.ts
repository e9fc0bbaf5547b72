/**
 * A parked event retried after the fault is fixed goes through: applied to the read models
 * outside the checkpoints, unparked, and recorded as ParkedEventResolved with the admin as
 * actor. Retried twice at once, it is applied and recorded once.
 */
import t from 'tap';
import { randomUUID } from 'node:crypto';
import { parkedStream } from '../../../src/domain/events.js';
import type { Decoded, EventContext } from '../../../src/ports/events.js';
import type { SqlExecutor } from '../../../src/ports/sql.js';
import { allProjections, listParked } from '../../../src/projections/index.js';
import { getUser } from '../../../src/projections/users/queries.js';
import { makeRunner, openEnv, until, Writer } from '../../helpers/projections.js';

/** A read model that refuses UserDisabled while `broken` (a bug, later fixed). */
function pickyProjection(): { broken: boolean; name: string; version: number; tables: string[];
  setup(tx: SqlExecutor, table: (b: string) => string): Promise<void>;
  apply(tx: SqlExecutor, events: Decoded[], table: (b: string) => string): Promise<void>; } {
  const p = {
    broken: true,
    name: 'picky',
    version: 1,
    tables: ['picky'],
    async setup(tx: SqlExecutor, table: (base: string) => string): Promise<void> {
      await tx.query(`create table if not exists ${table('picky')} (position bigint primary key, type text not null)`);
    },
    async apply(tx: SqlExecutor, events: Decoded[], table: (base: string) => string): Promise<void> {
      for (const e of events) {
        if (p.broken && e.type === 'UserDisabled') throw new Error('picky cannot take a UserDisabled yet');
        await tx.query(`insert into ${table('picky')} (position, type) values ($1, $2)`, [e.position.toString(), e.type]);
      }
    },
  };
  return p;
}

void t.test('a parked event retried after a fix is applied once and recorded', async (t) => {
  const env = await openEnv(t);
  const picky = pickyProjection();
  const { runner } = makeRunner(env, t, { projections: [...allProjections(), picky], encoder: env.codec, batchSize: 10 });
  await runner.start();
  const w = new Writer(env);
  const id = randomUUID();
  await w.register(id, { email: `${id}@x.org` });
  const disabled = await w.user(id, [{ type: 'UserDisabled', data: { user_id: id } }]);
  const after = await w.register(randomUUID(), { email: 'after@x.org' });
  t.ok(await runner.waitFor(after.position, 15_000), 'the read models stepped over the event');

  t.ok(await until(async () => (await listParked(env.sql)).length === 1, 15_000), 'parked');
  t.match(await getUser(env.sql, id), { status: 'active' }, 'not applied to any read model: they stay consistent');

  const admin = randomUUID();
  const ctx: EventContext = {
    now: new Date(), correlationId: randomUUID(), causationId: null, actorId: admin, requestId: randomUUID(), ip: null, userAgent: null,
  };
  await t.rejects(runner.retryParked(disabled.position, ctx), /picky cannot take/, 'still broken: the retry fails, stays parked');
  t.equal((await listParked(env.sql)).length, 1);

  picky.broken = false;
  const outcomes = await Promise.allSettled([runner.retryParked(disabled.position, ctx), runner.retryParked(disabled.position, ctx)]);
  t.ok(outcomes.some((o) => o.status === 'fulfilled' && o.value === 'applied'), 'the fixed read model takes it');
  t.strictSame(await listParked(env.sql), [], 'unparked');
  t.match(await getUser(env.sql, id), { status: 'disabled' }, 'the users read model has it now');
  const { rows } = await env.sql.query<{ n: number }>(`select count(*)::int as n from authstream.picky where position = $1`,
    [disabled.position.toString()]);
  t.equal(rows[0]?.n, 1, 'applied once');

  const recorded = await env.codec.decodeAll(await env.store.readStream(parkedStream(disabled.position)));
  t.match(recorded.map((e) => ({ type: e.type, data: e.data, actor: e.metadata.actor_id })), [
    { type: 'EventParked', data: { event_type: 'UserDisabled' }, actor: null },
    { type: 'ParkedEventResolved', data: { position: disabled.position.toString(), outcome: 'applied' }, actor: admin },
  ], 'the parking and its resolution are in the log');
  t.equal(recorded.length, 2, 'the resolution recorded once');
});
