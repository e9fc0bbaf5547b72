/**
 * The master key and the database connection: what a first start says when either is
 * not right, in one line naming the setting.
 */
import t, { type Test } from 'tap';
import { existsSync, mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ConfigError, loadConfig } from '../../src/config.js';
import { masterKeyWarning, openMasterKey, openSql } from '../../src/composition/foundations.js';

const PG = process.env.TEST_DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres';

function dataDir(t: Test): string {
  const dir = mkdtempSync(join(tmpdir(), 'authstream-foundations-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

t.test('master key: MASTER_KEY, else a file made once; refused in production next to PostgreSQL', async (t) => {
  const dir = dataDir(t);
  const embedded = openMasterKey(loadConfig({ DATA_DIR: dir }));
  t.match(embedded.source, { kind: 'file', generated: true });
  t.equal(statSync(join(dir, 'master.key')).mode & 0o777, 0o600, 'the file is 0600');
  t.equal(masterKeyWarning(loadConfig({ DATA_DIR: dir }), embedded), null, 'embedded: the key sits with the data, nothing to say');
  const again = openMasterKey(loadConfig({ DATA_DIR: dir }));
  t.same(again.key, embedded.key, 'the same key at the next start');
  t.match(again.source, { kind: 'file', generated: false });
  t.equal(readFileSync(join(dir, 'master.key'), 'utf8').trim().length, 44, 'base64 of 32 bytes');

  const server = loadConfig({ DATA_DIR: dir, DATABASE_URL: PG });
  t.match(masterKeyWarning(server, again),
    /MASTER_KEY is not set: the master key is read from .*master\.key\. .*back it up apart from the database, and give every instance the same MASTER_KEY/);
  const fresh = dataDir(t);
  const generated = openMasterKey(loadConfig({ DATA_DIR: fresh, DATABASE_URL: PG }));
  t.match(masterKeyWarning(loadConfig({ DATA_DIR: fresh, DATABASE_URL: PG }), generated), /a new one, generated into/);

  const prod = dataDir(t);
  t.throws(() => openMasterKey(loadConfig({ DATA_DIR: prod, DATABASE_URL: PG, NODE_ENV: 'production' })),
    { name: 'ConfigError', message: /MASTER_KEY.*required with DATABASE_URL in production/ });
  t.notOk(existsSync(join(prod, 'master.key')), 'and no key file is left behind');

  const key = Buffer.alloc(32, 7).toString('base64');
  const env = openMasterKey(loadConfig({ DATA_DIR: prod, DATABASE_URL: PG, NODE_ENV: 'production', MASTER_KEY: key }));
  t.same(env.source, { kind: 'env' });
  t.equal(masterKeyWarning(loadConfig({ DATA_DIR: prod, DATABASE_URL: PG, MASTER_KEY: key }), env), null);
  t.throws(() => openMasterKey(loadConfig({ DATA_DIR: prod, MASTER_KEY: 'short' })), ConfigError);
});

t.test('DATABASE_URL: what is wrong, exactly', async (t) => {
  const problem = async (url: string): Promise<string> => {
    try {
      const sql = await openSql(loadConfig({ DATA_DIR: dataDir(t), DATABASE_URL: url }));
      await sql.close();
      return 'connected';
    } catch (error) {
      t.type(error, ConfigError);
      return (error as Error).message;
    }
  };
  const missing = new URL(PG);
  missing.pathname = '/authstream_no_such_database_here';
  const answer = await problem(missing.toString());
  if (process.env.REQUIRE_PG_SERVER !== '1' && /nothing accepts/.test(answer)) {
    t.comment(`no PostgreSQL server at ${missing.host}: ${answer}`);
  } else {
    t.match(answer, /database "authstream_no_such_database_here" does not exist on 127\.0\.0\.1:5432 \(create it: createdb/);
  }

  const closed = createServer();
  await new Promise<void>((r) => closed.listen(0, '127.0.0.1', r));
  const port = (closed.address() as { port: number }).port;
  await new Promise<void>((r) => closed.close(() => r()));
  t.match(await problem(`postgres://postgres:s3cret@127.0.0.1:${port}/x`), new RegExp(`nothing accepts connections at 127\\.0\\.0\\.1:${port}`));
  const unknown = await problem('postgres://postgres:s3cret@no-such-host.invalid:5432/x');
  t.match(unknown, /the host no-such-host\.invalid is not known/);
  t.notMatch(unknown, /s3cret/, 'never the password');
});
