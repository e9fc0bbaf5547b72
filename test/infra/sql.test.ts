/**
 * The Sql port's transaction with a first statement sent along with BEGIN: it runs inside
 * the transaction, its rows reach the callback, and an error in it rolls everything back.
 * On a server and on PGlite (whichever createTestDatabase gives; CI requires the server).
 */
import t from 'tap';
import { createTestDatabase } from '../helpers/db.js';

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
