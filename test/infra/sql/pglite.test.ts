/** The embedded database's data directory is held by one process at a time. */
import t from 'tap';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PgliteSql } from '../../../src/infra/sql/pglite.js';

const dir = mkdtempSync(join(tmpdir(), 'authstream-lock-'));
t.teardown(() => rmSync(dir, { recursive: true, force: true }));
const data = join(dir, 'pglite');

void t.test('a second opener is refused with a clear error while the first holds it', async (t) => {
  const first = await PgliteSql.open(data);
  await first.query('create table kept (n int)');
  await t.rejects(PgliteSql.open(data), { name: 'ConfigError', setting: 'DATA_DIR', message: /in use by process \d+/ });
  await first.close();
  t.notOk(existsSync(`${data}.lock`), 'closing releases it');
  const second = await PgliteSql.open(data);
  t.same((await second.query('select count(*)::int as n from kept')).rows, [{ n: 0 }], 'the data is there for the next holder');
  await second.close();
});

void t.test('a lock left by a process that died (kill -9) is taken over', async (t) => {
  const gone = spawnSync(process.execPath, ['-e', 'process.stdout.write(String(process.pid))']).stdout.toString();
  writeFileSync(`${data}.lock`, `${gone}\n`);
  const sql = await PgliteSql.open(data);
  t.pass(`the stale lock of pid ${gone} was taken over`);
  await sql.close();
});

void t.test('a lock naming this very pid but not held here (a restarted container\'s pid 1) is taken over', async (t) => {
  writeFileSync(`${data}.lock`, `${process.pid}\n`);
  const sql = await PgliteSql.open(data);
  t.pass('taken over');
  await sql.close();
});

void t.test('a first start creates the cluster in a child process, with small shared buffers', async (t) => {
  const fresh = join(dir, 'fresh');
  const sql = await PgliteSql.open(fresh);
  t.ok(existsSync(join(fresh, 'PG_VERSION')), 'the cluster is there');
  t.same((await sql.query('show shared_buffers')).rows, [{ shared_buffers: '32MB' }]);
  await sql.close();
  const again = await PgliteSql.open(fresh);
  t.same((await again.query('select 1 as one')).rows, [{ one: 1 }], 'and opens as it is at the next start');
  await again.close();

  const blocked = join(dir, 'not-a-folder');
  writeFileSync(blocked, 'a file where the data directory should be');
  await t.rejects(PgliteSql.open(blocked), { message: /creating the embedded database in .* failed/ }, 'a failed initdb says so');
});
