/**
 * Creates an embedded PostgreSQL cluster (PGlite's initdb) in the data directory given as
 * the first argument, then exits. The service runs it as a child process on a first start:
 * initdb's WebAssembly memory (~500 MB) is then freed with the child instead of staying in
 * the service's heap for its whole life.
 */
import { PGlite } from '@electric-sql/pglite';
import { PGLITE_CONF } from './pgliteConf.js';

const dir = process.argv[2];
if (!dir) {
  process.stderr.write('usage: pgliteInit <data directory>\n');
  process.exit(2);
}
const db = await PGlite.create(dir, { postgresqlconf: PGLITE_CONF });
await db.query('select 1');
await db.close();
