/**
 * Signing keys in PostgreSQL: next → current → retired, what the JWKS publishes (every key
 * that may still have signed a live token), reload on NOTIFY across instances on both
 * adapters (pg and PGlite), the periodic fallback when a NOTIFY is missed, concurrent
 * rotations, the v1 → v2 migration, a configured JWT_PRIVATE_KEY, and `keys rotate`.
 */
import t from 'tap';
import { generateKeyPairSync, randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { runCli } from '../../../src/cli/main.js';
import { ConfigError } from '../../../src/config.js';
import { deriveKey, seal } from '../../../src/infra/crypto.js';
import { migrate } from '../../../src/infra/sql/migrate.js';
import {
  describeKey, RETIRED_KEY_HORIZON_SECONDS, SIGNING_KEY_MIGRATIONS, SigningKeys, type SigningKeys as Keys,
} from '../../../src/infra/signingKeys/signingKeys.js';
import { PgliteSql } from '../../../src/infra/sql/pglite.js';
import { PgSql } from '../../../src/infra/sql/pg.js';
import type { Sql, SqlExecutor, TransactionOptions } from '../../../src/ports/sql.js';
import { createTestDatabase, createTestDatabaseUrl } from '../../helpers/db.js';

type Tap = Parameters<Parameters<typeof t.test>[0]>[0];

const master = () => randomBytes(32);
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function eventually(what: () => boolean, ms = 3000): Promise<boolean> {
  for (const end = Date.now() + ms; Date.now() < end; await sleep(10)) if (what()) return true;
  return what();
}

const kids = (keys: Keys) => keys.jwks().keys.map((k) => k.kid);

/** The same database, but notifications never arrive (a missed NOTIFY, for ever). */
function deaf(sql: Sql): Sql {
  return {
    kind: sql.kind,
    query: <R,>(text: string, params?: readonly unknown[]) => sql.query<R>(text, params),
    transaction: <T,>(fn: (tx: SqlExecutor, first: Record<string, unknown>[]) => Promise<T>, options?: TransactionOptions) =>
      sql.transaction<T>(fn, options),
    pipelinedTransaction: <T,>(first: string, fn: (tx: SqlExecutor, first: Promise<Record<string, unknown>[]>) => Promise<T>) =>
      sql.pipelinedTransaction<T>(first, fn),
    pipelinedBatch: (first, statements) => sql.pipelinedBatch(first, statements),
    listen: async () => async () => {},
    exec: (text: string) => sql.exec(text),
    close: async () => {},
  };
}

/** A second client on the same database: a second pool on a server, the same PGlite otherwise. */
async function secondClient(t: Tap, db: { sql: Sql; url: string | undefined }): Promise<Sql> {
  if (!db.url) return db.sql;
  const sql = new PgSql({ connectionString: db.url, max: 4 });
  t.teardown(() => sql.close());
  return sql;
}

t.test('next, current, retired: open, rotate, JWKS', async (t) => {
  const { sql } = await createTestDatabase(t);
  const key = master();
  const keys = await SigningKeys.open(sql, key);
  const first = keys.current();
  const next = keys.next();
  t.ok(next, 'a next key is pre-published');
  t.same(kids(keys), [first.kid, next?.kid], 'JWKS: current and next');
  t.equal(first.status, 'current');
  t.match(first.privatePem, /BEGIN PRIVATE KEY/);
  for (const jwk of keys.jwks().keys) {
    t.same(Object.keys(jwk).sort(), ['alg', 'crv', 'kid', 'kty', 'use', 'x'], 'public members only');
    t.equal(jwk.alg, 'EdDSA');
  }

  const r1 = await keys.rotate();
  t.equal(r1.current.kid, next?.kid, 'rotation promotes the pre-published key');
  t.equal(r1.previousKid, first.kid);
  t.equal(keys.next()?.kid, r1.nextKid, 'and publishes a new next key');
  t.same(kids(keys), [r1.current.kid, r1.nextKid, first.kid], 'the old key stays published');
  t.equal(keys.byKid(first.kid)?.status, 'retired');
  t.equal(keys.byKid(first.kid)?.publicPem, first.publicPem, 'and keeps verifying');

  const r2 = await keys.rotate();
  const r3 = await keys.rotate();
  t.same(kids(keys), [r3.current.kid, r3.nextKid, r2.current.kid, r1.current.kid, first.kid],
    'every key retired within the horizon is published, not just the last one');

  // Keys retired longer ago than the longest access-token lifetime (plus grace) go.
  await sql.query(`update authstream.signing_keys set retired_at = clock_timestamp() - ($1::int * interval '1 second') where kid = $2`,
    [RETIRED_KEY_HORIZON_SECONDS + 1, first.kid]);
  await sql.query(`update authstream.signing_keys set retired_at = clock_timestamp() - interval '86000 seconds' where kid = $1`, [r1.current.kid]);
  await keys.reload();
  t.notOk(keys.byKid(first.kid), 'a key retired beyond the horizon is dropped');
  t.ok(keys.byKid(r1.current.kid), 'one retired 86000 s ago still verifies');
  t.equal(keys.jwks().keys.length, 4);

  const again = await SigningKeys.open(sql, key);
  t.equal(again.current().kid, r3.current.kid, 'a restart keeps the current key');
  t.equal(again.next()?.kid, r3.nextKid, 'and the next one');

  await t.rejects(SigningKeys.open(sql, master()), ConfigError, 'another master key cannot unseal them');
});

t.test('open: instances starting together agree on one current key', async (t) => {
  const db = await createTestDatabase(t);
  const other = await secondClient(t, db);
  const key = master();
  const [a, b] = await Promise.all([SigningKeys.open(db.sql, key), SigningKeys.open(other, key)]);
  t.equal(a.current().kid, b.current().kid);
  t.equal(a.next()?.kid, b.next()?.kid);
  const { rows } = await db.sql.query<{ n: bigint | number }>(`select count(*) as n from authstream.signing_keys`);
  t.equal(Number(rows[0]?.n), 2);
});

async function followAcrossInstances(t: Tap, sqlA: Sql, sqlB: Sql): Promise<void> {
  const key = master();
  const a = await SigningKeys.open(sqlA, key);
  const b = await SigningKeys.open(sqlB, key);
  const stopB = await b.follow({ reloadEveryMs: 3_600_000 }); // only NOTIFY can wake it
  t.teardown(stopB);
  const old = b.current().kid;
  const r = await a.rotate();
  t.ok(b.byKid(r.current.kid), 'B verifies the new key before it hears of the rotation (pre-published)');
  t.ok(await eventually(() => b.current().kid === r.current.kid), 'B signs with the new key after the NOTIFY');
  t.ok(b.byKid(old), 'and still verifies the old one');
  t.equal(b.next()?.kid, r.nextKid);
}

t.test('follow(): LISTEN/NOTIFY reload across instances', async (t) => {
  t.test('PostgreSQL (or PGlite when no server answers)', async (t) => {
    const db = await createTestDatabase(t);
    await followAcrossInstances(t, db.sql, await secondClient(t, db));
  });
  t.test('PGlite', async (t) => {
    const sql = await PgliteSql.open();
    t.teardown(() => sql.close());
    await followAcrossInstances(t, sql, sql);
  });
});

t.test('follow(): the periodic reload catches a missed NOTIFY', async (t) => {
  const db = await createTestDatabase(t);
  const key = master();
  const a = await SigningKeys.open(db.sql, key);
  const b = await SigningKeys.open(deaf(db.sql), key);
  const stop = await b.follow({ reloadEveryMs: 50 });
  t.teardown(stop);
  const r = await a.rotate();
  t.ok(await eventually(() => b.current().kid === r.current.kid), 'B reloads by itself');
  await stop();
  const r2 = await a.rotate();
  await sleep(150);
  t.not(b.current().kid, r2.current.kid, 'stopped: no more reloads');
});

t.test('byKid(): an unknown kid triggers a (rate-limited) reload', async (t) => {
  const db = await createTestDatabase(t);
  const key = master();
  const a = await SigningKeys.open(db.sql, key);
  const b = await SigningKeys.open(deaf(db.sql), key);
  await a.rotate();
  const r = await a.rotate(); // promotes a key b has never seen
  t.notOk(b.byKid(r.current.kid), 'unknown at first');
  t.ok(await eventually(() => b.byKid(r.current.kid) !== undefined), 'known after the reload it triggered');
  t.equal(b.current().kid, r.current.kid);
});

t.test('concurrent rotations on two instances: one current key, every old one retired and published', async (t) => {
  const db = await createTestDatabase(t);
  const other = await secondClient(t, db);
  const key = master();
  const a = await SigningKeys.open(db.sql, key);
  const b = await SigningKeys.open(other, key);
  const first = a.current().kid;
  const results = await Promise.all([a.rotate(), b.rotate(), a.rotate(), b.rotate()]);
  await Promise.all([a.reload(), b.reload()]);
  t.equal(a.current().kid, b.current().kid, 'both agree');
  const { rows } = await db.sql.query<{ kid: string; activated: boolean; retired: boolean }>(
    `select kid, activated_at is not null as activated, retired_at is not null as retired from authstream.signing_keys`);
  t.equal(rows.filter((r) => r.activated && !r.retired).length, 1, 'exactly one current key');
  t.equal(rows.filter((r) => !r.activated && !r.retired).length, 1, 'exactly one next key');
  t.equal(rows.length, 6, 'first current + first next + four new next keys');
  const previous = results.map((r) => r.previousKid).sort();
  t.same(previous, [...new Set(previous)].sort(), 'each rotation retired a different key');
  for (const kid of [first, ...results.map((r) => r.current.kid)]) t.ok(a.byKid(kid), `${kid.slice(0, 8)} still verifies`);
});

t.test('migration from v1 (no next key; the newest key signed)', async (t) => {
  const { sql } = await createTestDatabase(t);
  const key = master();
  const v1 = SIGNING_KEY_MIGRATIONS.filter((m) => m.version === 1);
  await migrate(sql, 'signing-keys', v1);
  const sealKey = deriveKey(key, 'signing-keys');
  const made = [5 * 86_400, 2 * 86_400, 3_600].map((ago) => ({ ago, d: describeKey(generateKeyPairSync('ed25519').privateKey) }));
  for (const { ago, d } of made) {
    await sql.query(
      `insert into authstream.signing_keys (kid, sealed_private_key, public_jwk, created_at)
       values ($1, $2, $3, clock_timestamp() - ($4::int * interval '1 second'))`,
      [d.kid, seal(sealKey, Buffer.from(d.privatePem), d.kid), JSON.stringify(d.jwk), ago]);
  }
  const keys = await SigningKeys.open(sql, key);
  const [oldest, middle, newest] = made.map((m) => m.d.kid);
  t.equal(keys.current().kid, newest, 'the newest key stays current');
  t.ok(keys.next(), 'a next key is made');
  t.equal(keys.byKid(middle ?? '')?.status, 'retired', 'the one before it was retired an hour ago: published');
  t.notOk(keys.byKid(oldest ?? ''), 'the oldest was retired two days ago: gone');
});

t.test('a configured JWT_PRIVATE_KEY is current at every start', async (t) => {
  const { sql } = await createTestDatabase(t);
  const key = master();
  const pem = generateKeyPairSync('ed25519').privateKey.export({ format: 'pem', type: 'pkcs8' }).toString();
  const configuredKid = describeKey(generateKeyPairSync('ed25519').privateKey).kid; // unrelated, must not match
  const keys = await SigningKeys.open(sql, key, pem);
  const kid = keys.current().kid;
  t.not(kid, configuredKid);
  t.equal((await SigningKeys.open(sql, key, pem)).current().kid, kid, 'a restart with the same key changes nothing');
  const rotated = await keys.rotate();
  const restarted = await SigningKeys.open(sql, key, pem);
  t.equal(restarted.current().kid, kid, 'the configured key is current again');
  t.equal(restarted.byKid(rotated.current.kid)?.status, 'retired', 'the rotated one is retired, still published');
  await t.rejects(SigningKeys.open(sql, key, 'not a pem'), ConfigError);
  const rsa = generateKeyPairSync('rsa', { modulusLength: 1024 }).privateKey.export({ format: 'pem', type: 'pkcs8' }).toString();
  await t.rejects(SigningKeys.open(sql, key, rsa), ConfigError, 'only Ed25519');
});

t.test('CLI: authstream keys rotate', async (t) => {
  const dataDir = mkdtempSync(join(tmpdir(), 'authstream-keys-'));
  t.teardown(() => rmSync(dataDir, { recursive: true, force: true }));
  const url = await createTestDatabaseUrl(t);
  const masterKey = randomBytes(32).toString('base64');
  const env: NodeJS.ProcessEnv = { DATA_DIR: dataDir, MASTER_KEY: masterKey, ...(url ? { DATABASE_URL: url } : {}) };
  const run = async (argv: string[], extra: NodeJS.ProcessEnv = {}) => {
    let out = '';
    let err = '';
    const sink = (f: (s: string) => void) => new Writable({ write(c, _e, cb) { f(String(c)); cb(); } });
    const code = await runCli(argv, { out: sink((s) => { out += s; }), err: sink((s) => { err += s; }), env: { ...env, ...extra } });
    return { code, out, err };
  };

  const help = await run(['--help']);
  t.match(help.out, /keys rotate/, 'listed in --help');
  t.match((await run(['keys', 'rotate', '--help'])).out, /Usage: authstream keys rotate/);

  const text = await run(['keys', 'rotate']);
  t.equal(text.code, 0, text.err);
  t.match(text.out, /^[A-Za-z0-9_-]{43}\n$/, 'prints the new kid');
  const json = await run(['keys', 'rotate', '--json']);
  t.equal(json.code, 0, json.err);
  const body = JSON.parse(json.out) as { kid: string; previous_kid: string; next_kid: string; published: { kid: string; status: string }[] };
  t.equal(body.previous_kid, text.out.trim(), 'the previous rotation\'s key is now the previous key');
  t.same(body.published.map((k) => k.status), ['current', 'next', 'retired', 'retired']);
  for (const output of [text.out, text.err, json.out, json.err]) t.notMatch(output, /PRIVATE KEY|"d":/, 'never a private key');

  const sql: Sql = url ? new PgSql({ connectionString: url, max: 2 }) : await PgliteSql.open(join(dataDir, 'pglite'));
  try {
    const keys = await SigningKeys.open(sql, Buffer.from(masterKey, 'base64'));
    t.equal(keys.current().kid, body.kid, 'the stored current key is the one printed');
  } finally {
    await sql.close();
  }

  const pem = generateKeyPairSync('ed25519').privateKey.export({ format: 'pem', type: 'pkcs8' }).toString();
  const refused = await run(['keys', 'rotate'], { JWT_PRIVATE_KEY: pem });
  t.equal(refused.code, 1);
  t.match(refused.err, /JWT_PRIVATE_KEY/);
  const bad = await run(['keys', 'rotate'], { MASTER_KEY: 'short' });
  t.equal(bad.code, 1);
  t.match(bad.err, /configuration error: MASTER_KEY/);
});
