/**
 * The contract on embedded PGlite (in memory). One database for the whole file, so this
 * run also shows the contract holding on a store that is not empty.
 */
import t from 'tap';
import { PostgresEventStore } from '../../../src/eventstore/postgres/store.js';
import { PgliteSql } from '../../../src/infra/sql/pglite.js';
import { eventStoreContract } from '../../helpers/eventStoreContract.js';

const sql = await PgliteSql.open();
t.teardown(() => sql.close());

eventStoreContract(t, 'PostgresEventStore on PGlite', async (t) => {
  const store = await PostgresEventStore.open(sql, { pollIntervalMs: 50 });
  t.teardown(() => store.close());
  return store;
});
