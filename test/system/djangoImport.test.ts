/**
 * Moving in from Django, end to end: a PostgreSQL database shaped like a Django project's
 * (auth_user and a custom email/phone user model) holding hashes made by real Django →
 * `authstream import django` → every user signs in with their old password over HTTP →
 * the hash is upgraded (PasswordUpgraded) → a second import changes nothing. And the
 * JSON Lines admin endpoint.
 */
import { randomBytes } from 'node:crypto';
import { Writable } from 'node:stream';
import t from 'tap';
import { runCli } from '../../src/cli/main.js';
import { importedUserId } from '../../src/commands/import/importUser.js';
import { json } from '../helpers/app.js';
import { bearer, buildAdminApp, login, register } from '../helpers/admin.js';
import { createTestDatabaseUrl, usingServer } from '../helpers/db.js';
import { createDjangoSchema, djangoVectors, insertAuthUsers, insertCustomUsers, type DjangoUser } from '../helpers/django.js';

async function cli(env: NodeJS.ProcessEnv, argv: string[]): Promise<{ code: number; out: string; err: string }> {
  const out: string[] = [];
  const err: string[] = [];
  const sink = (into: string[]) => new Writable({ write(chunk, _enc, cb) { into.push(String(chunk)); cb(); } });
  const code = await runCli(argv, { out: sink(out), err: sink(err), env });
  return { code, out: out.join(''), err: err.join('') };
}

async function inBatches<T>(items: readonly T[], size: number, fn: (item: T) => Promise<void>): Promise<void> {
  for (let i = 0; i < items.length; i += size) await Promise.all(items.slice(i, i + size).map(fn));
}

const serverUp = await usingServer();

void t.test('import from a Django database, sign in with the old passwords', serverUp ? {} : { skip: 'needs a PostgreSQL server for the Django database' }, async (t) => {
  const djangoUrl = await createTestDatabaseUrl(t) as string;
  await createDjangoSchema(djangoUrl);
  const { vectors, unsupported } = djangoVectors();
  const usable = vectors.filter((v) => v.algorithm !== 'unusable');
  const tag = randomBytes(3).toString('hex');
  const authUsers: DjangoUser[] = usable.map((v, i) => ({
    email: `Auth${i}.${tag}@Django.example`, password: v.encoded, firstName: 'Ada', lastName: `N°${i}`,
    dateJoined: new Date(Date.UTC(2015, 0, 1 + i)), lastLogin: new Date('2024-06-01T00:00:00Z'),
  }));
  authUsers.push(
    { email: `unusable.${tag}@django.example`, password: vectors.find((v) => v.algorithm === 'unusable')?.encoded ?? '!' },
    { email: `boss.${tag}@django.example`, password: usable[0]?.encoded ?? '', isSuperuser: true, isStaff: true },
    { email: `gone.${tag}@django.example`, password: usable[0]?.encoded ?? '', isActive: false },
    { email: '', password: usable[0]?.encoded ?? '' }, // username only: refused, no identifier
    { email: `AUTH0.${tag}@django.example`, password: usable[0]?.encoded ?? '' }, // Django allows it; one account here
    { email: `md5.${tag}@django.example`, password: unsupported[0]?.encoded ?? '' },
  );
  await insertAuthUsers(djangoUrl, authUsers);
  const shop: DjangoUser[] = [
    { email: `shop1.${tag}@django.example`, phone: '06 12 34 56 78', password: usable[1]?.encoded ?? '' },
    { email: null, phone: '+44 7911 123456', password: usable[2]?.encoded ?? '' },
  ];
  await insertCustomUsers(djangoUrl, shop);

  const ctx = await buildAdminApp(t, { LOGIN_RATE_PER_IP_PER_MINUTE: '100000' });
  const { app, auth } = ctx;
  const env: NodeJS.ProcessEnv = { DATABASE_URL: ctx.db.url, MASTER_KEY: ctx.config.masterKey, DATA_DIR: ctx.config.dataDir, LOG_LEVEL: 'silent' };

  const dry = await cli(env, ['import', 'django', '--from', djangoUrl, '--dry-run', '--json']);
  t.equal(dry.code, 0, dry.err);
  const dryRun = JSON.parse(dry.out) as Record<string, unknown>;
  t.match(dryRun, { dry_run: true, read: authUsers.length, imported: usable.length + 3, refused: 3 });

  const first = await cli(env, ['import', 'django', '--from', djangoUrl, '--json']);
  t.equal(first.code, 0, first.err);
  const summary = JSON.parse(first.out) as { imported: number; duplicate: number; refused: number; reasons: Record<string, number> };
  t.match(summary, { dry_run: false, read: authUsers.length, imported: dryRun.imported, duplicate: 0, refused: 3,
    reasons: { no_identifier: 1, email_taken: 1, unsupported_hash: 1 } });
  t.match(first.err, /reading \d+ users; columns: id, email, first_name/, 'the columns it reads are shown');

  const custom = await cli(env, ['import', 'django', '--from', djangoUrl, '--table', 'accounts_user', '--source', 'shop',
    '--phone-region', 'FR', '--json']);
  t.equal(custom.code, 0, custom.err);
  t.match(JSON.parse(custom.out), { imported: 2, refused: 0 });

  // Every user signs in with the password they had in Django, over HTTP.
  const accounts = usable.map((v, i) => ({ email: `auth${i}.${tag}@django.example`, v, id: importedUserId(ctx.runtime.deps, 'django', String(i + 1)) }));
  await inBatches(accounts, 8, async ({ email, v }) => {
    const wrong = await app.inject({ method: 'POST', url: '/v1/auth/login', payload: { email, password: `x${v.password}` } });
    if (wrong.statusCode !== 401) t.fail(`${v.note}: a wrong password gets ${wrong.statusCode}`);
    const res = await app.inject({ method: 'POST', url: '/v1/auth/login', payload: { email, password: v.password } });
    if (res.statusCode !== 200) t.fail(`${v.algorithm} (${v.note}): ${res.statusCode} ${res.body}`);
  });
  t.pass(`${accounts.length} users of ${new Set(usable.map((v) => v.algorithm)).size} hash formats signed in with their Django password`);
  const phoneLogin = await app.inject({ method: 'POST', url: '/v1/auth/login', payload: { phone: '+33612345678', password: usable[1]?.password } });
  t.equal(phoneLogin.statusCode, 200, 'a custom model\'s national phone number, read with --phone-region');

  // Each hash was upgraded: PasswordUpgraded in the stream, no hash in the admin view.
  let upgraded = 0;
  for (const { id } of accounts) {
    const stream = await app.inject({ method: 'GET', url: `/v1/admin/streams/user-${id}`, headers: auth });
    const events = json<{ events: Array<{ type: string; data: Record<string, unknown> }> }>(stream).events;
    if (events[0]?.type !== 'UserImported' || 'password_hash' in (events[0]?.data ?? {})) t.fail(`user ${id}: ${stream.body}`);
    if (events.some((e) => e.type === 'PasswordUpgraded')) upgraded += 1;
  }
  t.equal(upgraded, accounts.length, 'every hash upgraded on first sign-in');
  const again = await Promise.all(accounts.slice(0, 4).map(({ email, v }) =>
    app.inject({ method: 'POST', url: '/v1/auth/login', payload: { email, password: v.password } })));
  t.strictSame(again.map((r) => r.statusCode), [200, 200, 200, 200], 'and sign in again with the upgraded hash');

  const unusable = await app.inject({ method: 'POST', url: '/v1/auth/login', payload: { email: `unusable.${tag}@django.example`, password: 'anything-at-all' } });
  t.equal(json(unusable).code, 'invalid_credentials', 'Django\'s unusable password: no password signs in (the user resets it)');
  const disabled = await app.inject({ method: 'POST', url: '/v1/auth/login', payload: { email: `gone.${tag}@django.example`, password: usable[0]?.password } });
  t.equal(json(disabled).code, 'account_disabled', 'is_active false');
  const boss = await login(app, `boss.${tag}@django.example`, usable[0]?.password);
  const me = json<{ roles: string[] }>(await app.inject({ method: 'GET', url: '/v1/me', headers: bearer(boss) }));
  t.strictSame(me.roles.sort(), ['admin', 'staff', 'user'], 'is_superuser and is_staff become roles');

  const user = await app.inject({ method: 'GET', url: `/v1/admin/users/${accounts[3]?.id}`, headers: auth });
  t.match(json(user), { email: `auth3.${tag}@django.example`, first_name: 'Ada', created_at: '2015-01-04T00:00:00.000Z' },
    'the read model: date_joined kept');

  const before = json<{ events: unknown[] }>(await app.inject({ method: 'GET', url: '/v1/admin/events?limit=1000', headers: auth })).events.length;
  const second = await cli(env, ['import', 'django', '--from', djangoUrl, '--json']);
  t.match(JSON.parse(second.out), { imported: 0, duplicate: summary.imported, refused: 3 }, 'a second import changes nothing');
  const after = json<{ events: unknown[] }>(await app.inject({ method: 'GET', url: '/v1/admin/events?limit=1000', headers: auth })).events.length;
  t.equal(after, before, 'not one event more');
});

void t.test('POST /v1/admin/imports: JSON Lines', async (t) => {
  const ctx = await buildAdminApp(t);
  const { app, auth } = ctx;
  const { vectors } = djangoVectors();
  const v = vectors.find((x) => x.algorithm === 'pbkdf2_sha256' && x.password !== '' && !x.password.startsWith('django-'));
  const lines = [
    JSON.stringify({ id: 1, email: 'lines1@example.com', password: v?.encoded, first_name: 'Lin' }),
    '',
    JSON.stringify({ model: 'auth.user', pk: 2, fields: { email: 'lines2@example.com', password: v?.encoded, is_staff: true, username: 'x' } }),
    'not json',
    JSON.stringify({ id: 3, email: 'LINES1@example.com', password: null }),
  ].join('\n');
  const post = (body: string, type = 'application/x-ndjson', headers = auth, query = '') =>
    app.inject({ method: 'POST', url: `/v1/admin/imports${query}`, headers: { ...headers, 'content-type': type }, payload: body });

  const user = await register(app, { email: 'plain.user@example.com' });
  t.equal((await post(lines, 'application/x-ndjson', bearer(user))).statusCode, 403, 'admins only');
  t.equal((await post('{"users":[]}', 'application/json')).statusCode, 415, 'JSON Lines only');
  const dry = await post(lines, 'application/x-ndjson', auth, '?dry_run=true');
  t.match(json(dry), { dry_run: true, read: 4, imported: 2, refused: 2 });
  const res = await post(lines);
  t.equal(res.statusCode, 200, res.body);
  t.match(json(res), {
    dry_run: false, read: 4, imported: 2, duplicate: 0, refused: 2,
    refused_records: [{ index: 3, source_id: null, reason: 'invalid_record' }, { index: 4, source_id: '3', reason: 'email_taken' }],
  });
  const signedIn = await login(app, 'lines2@example.com', v?.password);
  const me = json<{ roles: string[]; email: string }>(await app.inject({ method: 'GET', url: '/v1/me', headers: bearer(signedIn) }));
  t.match(me, { email: 'lines2@example.com', roles: ['user', 'staff'] });
  t.match(json(await post(lines)), { imported: 0, duplicate: 2 }, 'posting the same lines again imports nothing twice');
  const tooMany = Array.from({ length: 10_001 }, (_, i) => `{"id":${i}}`).join('\n');
  t.equal((await post(tooMany)).statusCode, 413, 'at most 10,000 lines a request');
  t.equal((await post(lines, 'application/x-ndjson', auth, '?phone_region=XX')).statusCode, 400);
});
