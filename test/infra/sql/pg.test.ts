/**
 * The Sql port's transaction with a first statement sent along with BEGIN: it runs inside
 * the transaction, its rows reach the callback, and an error in it rolls everything back.
 * The same for pipelinedTransaction, whose statements are issued without waiting.
 * On a server and on PGlite (whichever createTestDatabase gives; CI requires the server),
 * and on a server also through a pool in pipeline mode.
 */
import t, { type Test } from 'tap';
import { PgSql } from '../../../src/infra/sql/pg.js';
import type { Sql } from '../../../src/ports/sql.js';
import { createTestDatabase } from '../../helpers/db.js';

void t.test('transaction({ first }): same transaction, rows handed over, errors roll back', async (t) => {
  const { sql } = await createTestDatabase(t);
  await sql.exec('create table notes (id int primary key)');

  const seen = await sql.transaction(async (tx, first) => {
    const { rows } = await tx.query<{ xid: string }>('select pg_current_xact_id()::text as xid');
    await tx.query('insert into notes values ($1)', [1]);
    return { first, inner: rows[0]?.xid };
  }, { first: 'select pg_current_xact_id()::text as xid, 42 as answer' });
  t.same(seen.first, [{ xid: seen.inner, answer: 42 }], 'the first statement ran in the same transaction; its rows are given');

  const plain = await sql.transaction(async (_tx, first) => first);
  t.same(plain, [], 'no first statement: no rows');

  await t.rejects(sql.transaction(async (tx) => {
    await tx.query('insert into notes values ($1)', [2]);
  }, { first: 'select * from no_such_table' }), 'an error in the first statement fails the transaction');
  await t.rejects(sql.transaction(async (tx) => {
    await tx.query('insert into notes values ($1)', [3]);
    throw new Error('no');
  }, { first: 'insert into notes values (4)' }));
  const { rows } = await sql.query<{ id: number }>('select id from notes order by id');
  t.same(rows.map((r) => r.id), [1], 'nothing of the failed transactions stayed');
});

/** Issued together, as the projection runner does: all commit, or none. */
async function pipelinedTransactionBehaves(t: Test, sql: Sql): Promise<void> {
  await sql.exec('drop table if exists piped; create table piped (id int primary key, note text)');
  const ids = async () => (await sql.query<{ id: number }>('select id from piped order by id')).rows.map((r) => r.id);

  const result = await sql.pipelinedTransaction('select pg_current_xact_id()::text as xid', async (tx, first) => {
    const writes = [
      tx.query('insert into piped values ($1, $2)', [1, 'a']),
      tx.query('insert into piped values ($1, $2)', [2, 'b']),
      tx.query<{ xid: string }>('select pg_current_xact_id()::text as xid'),
    ];
    const settled = await Promise.all(writes);
    return { first: await first, inner: (settled[2]?.rows[0] as { xid: string } | undefined)?.xid };
  });
  t.same(result.first, [{ xid: result.inner }], 'first and the statements issued with it share one transaction');
  t.same(await ids(), [1, 2], 'committed');

  const order = await sql.pipelinedTransaction('select 1', async (tx) => {
    await Promise.all([
      tx.query('insert into piped values ($1, $2)', [3, 'x']),
      tx.query('update piped set note = $2 where id = $1', [3, 'y']),
    ]);
    return (await tx.query<{ note: string }>('select note from piped where id = $1', [3])).rows[0]?.note;
  });
  t.equal(order, 'y', 'statements run in the order issued');

  await t.rejects(sql.pipelinedTransaction('select * from no_such_table', async (tx) => {
    await Promise.allSettled([tx.query('insert into piped values ($1, $2)', [4, 'c'])]);
  }), 'a failing first statement fails the transaction');
  await t.rejects(sql.pipelinedTransaction('select 1', async (tx) => {
    const settled = await Promise.allSettled([
      tx.query('insert into piped values ($1, $2)', [5, 'd']),
      tx.query('insert into piped values ($1, $2)', [1, 'duplicate']),
      tx.query('insert into piped values ($1, $2)', [6, 'e']),
    ]);
    const failed = settled.find((r) => r.status === 'rejected');
    if (failed) throw failed.reason;
  }), 'a failing statement fails the transaction');
  await t.rejects(sql.pipelinedTransaction('select 1', async (tx, first) => {
    await Promise.all([tx.query('insert into piped values ($1, $2)', [7, 'f']), first]);
    throw new Error('changed my mind');
  }), 'fn throwing fails the transaction');
  t.same(await ids(), [1, 2, 3], 'nothing of the failed transactions stayed');
  t.same((await sql.query('select 1 as one')).rows, [{ one: 1 }], 'the connections are usable afterwards');
}

void t.test('pipelinedTransaction: issued together, one transaction, all or nothing', async (t) => {
  const { sql, url } = await createTestDatabase(t);
  await pipelinedTransactionBehaves(t, sql);
  if (url) {
    const piped = new PgSql({ connectionString: url, max: 2, pipeline: true });
    t.teardown(() => piped.close());
    await t.test('through a pool in pipeline mode', (t) => pipelinedTransactionBehaves(t, piped));
  }
});

/** Sent in one go, as the projection runner's batches: all committed, or nothing and the failure said. */
async function pipelinedBatchBehaves(t: Test, sql: Sql): Promise<void> {
  await sql.exec('drop table if exists batched; create table batched (id int primary key, xid text, note text)');
  const rows = async () => (await sql.query<{ id: number; xid: string; note: string }>('select id, xid, note from batched order by id')).rows;

  const ok = await sql.pipelinedBatch('select pg_current_xact_id()::text as xid', [
    { text: 'insert into batched values ($1, pg_current_xact_id()::text, $2)', params: [1, 'a'] },
    { text: 'insert into batched values ($1, pg_current_xact_id()::text, $2)', params: [2, 'b'] },
    { text: 'update batched set note = $2 where id = $1', params: [2, 'b2'] },
  ]);
  t.equal(ok.failure, undefined);
  const xid = ok.first[0]?.xid;
  t.same(await rows(), [{ id: 1, xid, note: 'a' }, { id: 2, xid, note: 'b2' }], 'committed, in order, in the transaction of `first`');

  const failed = await sql.pipelinedBatch('select 42 as answer', [
    { text: 'insert into batched values ($1, null, $2)', params: [3, 'c'] },
    { text: 'insert into batched values ($1, null, $2)', params: [1, 'duplicate'] },
    { text: 'insert into batched values ($1, null, $2)', params: [4, 'd'] },
  ]);
  t.match(failed.failure, { code: '23505' }, 'the failing statement is reported, not thrown');
  t.same(failed.first, [{ answer: 42 }], 'with the rows of `first`');
  t.same((await rows()).map((r) => r.id), [1, 2], 'nothing of it was committed, before or after the failure');

  await t.rejects(sql.pipelinedBatch('select * from no_such_table', [
    { text: 'insert into batched values ($1, null, $2)', params: [5, 'e'] },
  ]), 'a failing first statement rejects');
  t.same((await rows()).map((r) => r.id), [1, 2], 'and commits nothing');
  t.same((await sql.query('select 1 as one')).rows, [{ one: 1 }], 'the connections are usable afterwards');
}

void t.test('pipelinedBatch: sent in one go, one transaction, all or nothing', async (t) => {
  const { sql, url } = await createTestDatabase(t);
  await pipelinedBatchBehaves(t, sql);
  if (url) {
    const piped = new PgSql({ connectionString: url, max: 2, pipeline: true });
    t.teardown(() => piped.close());
    await t.test('through a pool in pipeline mode', (t) => pipelinedBatchBehaves(t, piped));
  }
});
