/**
 * Import of users with their Django hashes, on the in-memory store: what is written, what
 * is refused and why, idempotence by source id, and the upgrade of the hash on sign-in.
 */
import { readFileSync } from 'node:fs';
import t from 'tap';
import { importedUserId } from '../../../src/commands/import/importUser.js';
import { runImport, type ImportResult, type SourceItem } from '../../../src/commands/import/run.js';
import { fromDjango } from '../../../src/commands/import/django.js';
import { changePassword } from '../../../src/commands/changePassword.js';
import { holderOf } from '../../../src/commands/identifiers.js';
import { userStream } from '../../../src/domain/events.js';
import { decideUpgradePassword, evolveUser, initialUser } from '../../../src/domain/user/user.js';
import { Argon2Hasher } from '../../../src/infra/passwordHasher.js';
import { LegacyAwareHasher } from '../../../src/infra/passwords/legacy.js';
import { email, login, register, typesOf } from '../../helpers/commands.js';
import { openMemoryEnv, type MemoryEnv } from '../../helpers/memoryCommands.js';

interface Vector { algorithm: string; encoded: string; password: string; wrong_password: string; django_check_wrong: boolean }
const vectors = (JSON.parse(readFileSync(new URL('../../fixtures/django-hashes.json', import.meta.url), 'utf8')) as { vectors: Vector[] }).vectors;
// Django's own defaults are slow by design: the end-to-end test signs in with those.
const fast = vectors.filter((v) => !/^django-/.test(v.password) && v.algorithm !== 'unusable' && !v.django_check_wrong);
const pbkdf2 = fast.find((v) => v.algorithm === 'pbkdf2_sha256' && v.password !== '') as Vector;

const stored = (events: unknown): string => JSON.stringify(events, (_k, v: unknown) => (typeof v === 'bigint' ? String(v) : v));

const hasher = new LegacyAwareHasher(new Argon2Hasher({ memoryCost: 1024, timeCost: 1, parallelism: 1 }));

async function* each(items: readonly SourceItem[]): AsyncGenerator<SourceItem> {
  yield* items;
}

async function importAll(env: MemoryEnv, items: readonly SourceItem[], options: { dryRun?: boolean; source?: string } = {}) {
  const results: ImportResult[] = [];
  const summary = await runImport(env.deps, each(items), {
    source: options.source ?? 'django', dryRun: options.dryRun ?? false, onResult: (r) => results.push(r),
  }, () => env.ctx());
  return { summary, results, byId: new Map(results.map((r) => [r.sourceId, r.result])) };
}

const djangoUser = (id: number, over: Record<string, unknown> = {}): SourceItem => fromDjango({
  id, email: `user${id}@example.com`, first_name: 'Ada', last_name: 'Lovelace', password: pbkdf2.encoded,
  is_active: true, is_staff: false, is_superuser: false, date_joined: '2019-05-04T10:00:00Z', last_login: null, ...over,
});

void t.test('an imported user: one UserImported with the hash sealed, claims, and a second import changes nothing', async (t) => {
  const env = await openMemoryEnv(t, { hasher });
  const first = await importAll(env, [djangoUser(1, { is_superuser: true, is_staff: true, last_login: '2024-01-02T03:04:05Z', phone: '+33 6 12 34 56 78' })]);
  t.match(first.summary, { read: 1, imported: 1, duplicate: 0, refused: 0 });
  const id = importedUserId(env.deps, 'django', '1');
  const events = await env.stream(userStream(id));
  t.strictSame(typesOf(events), ['UserImported']);
  t.match(events[0]?.data, {
    user_id: id, source: 'django', source_id: '1', email: 'user1@example.com', phone: '+33612345678', first_name: 'Ada',
    password_hash: pbkdf2.encoded, roles: ['user', 'admin', 'staff'], disabled: false, email_verified: false,
    joined_at: '2019-05-04T10:00:00.000Z', last_login_at: '2024-01-02T03:04:05.000Z',
  });
  const raw = stored(await env.allRaw());
  t.notOk(raw.includes(pbkdf2.encoded.split('$')[3] as string), 'the foreign hash is not stored in clear');
  t.notOk(raw.includes('user1@example.com'), 'nor the email');
  t.equal(await holderOf(env.deps, { kind: 'email', value: 'user1@example.com' }), id, 'the email is claimed for the user');
  t.equal(await holderOf(env.deps, { kind: 'phone', value: '+33612345678' }), id, 'and the phone');

  const count = await env.storedCount();
  const again = await importAll(env, [djangoUser(1)]);
  t.match(again.summary, { read: 1, imported: 0, duplicate: 1, refused: 0 });
  t.equal(await env.storedCount(), count, 'a second import appends nothing');
  const other = await importAll(env, [djangoUser(1)], { source: 'other-project' });
  t.match(other.byId.get('1'), { outcome: 'refused', reason: 'email_taken' }, 'the same person from another source is refused, not doubled');
});

void t.test('refusals: each with its reason, nothing written for them', async (t) => {
  const env = await openMemoryEnv(t, { hasher });
  const native = email('native');
  await register(env, { email: native, password: 'violet-Harbor-42' });
  const before = await env.storedCount();
  const md5 = 'md5$md5salt$e8867d9f90c9a872c05753b182920944';
  const { summary, byId } = await importAll(env, [
    djangoUser(10, { email: '' }),
    djangoUser(11, { email: 'not an email' }),
    djangoUser(12, { password: md5 }),
    djangoUser(13, { email: native.toUpperCase() }),
    djangoUser(14, { first_name: 'x'.repeat(101) }),
    djangoUser(15, { phone: '12' }),
    djangoUser(16, { date_joined: 'yesterday' }),
    { unreadable: 'not a JSON object', sourceId: null },
  ]);
  t.match(Object.fromEntries(byId), {
    10: { reason: 'no_identifier' }, 11: { reason: 'invalid_email' }, 12: { reason: 'unsupported_hash', detail: /md5/ },
    13: { reason: 'email_taken' }, 14: { reason: 'invalid_name' }, 15: { reason: 'invalid_phone' }, 16: { reason: 'invalid_date' },
    null: { reason: 'invalid_record' },
  });
  t.match(summary, { read: 8, imported: 0, refused: 8, reasons: { email_taken: 1, no_identifier: 1 } });
  t.equal(await env.storedCount(), before, 'no event for a refused record');
  const reset = await runImport(env.deps, each([djangoUser(12, { password: md5 })]), { source: 'django', unsupportedHashes: 'reset' }, () => env.ctx());
  t.match(reset, { imported: 1 }, 'unless asked to import them with no usable password');
  const [imported] = await env.stream(userStream(importedUserId(env.deps, 'django', '12')));
  t.equal((imported?.data as { password_hash: unknown }).password_hash, null, 'the md5 hash is not kept');
});

void t.test('two records with one email: the first in source order keeps it, on every run', async (t) => {
  const env = await openMemoryEnv(t, { hasher });
  const items = [djangoUser(20), djangoUser(21, { email: 'USER20@example.com' }), djangoUser(22)];
  const dry = await importAll(env, items, { dryRun: true });
  t.equal(await env.storedCount(), 0, 'a dry run writes nothing');
  t.match(dry.summary, { imported: 2, refused: 1, reasons: { email_taken: 1 } });
  const real = await importAll(env, items);
  t.strictSame([...real.byId.entries()].map(([id, r]) => [id, r.outcome]), [...dry.byId.entries()].map(([id, r]) => [id, r.outcome]),
    'the dry run foretold the real one');
  t.match(real.byId.get('21'), { outcome: 'refused', reason: 'email_taken', detail: 'record 20 has this email too' });
  const rerun = await importAll(env, items);
  t.match(rerun.summary, { imported: 0, duplicate: 2, refused: 1 });
  const twice = await importAll(env, [djangoUser(23), djangoUser(23)]);
  t.match(twice.summary, { imported: 1, duplicate: 1 }, 'a record twice in the source is imported once');
});

void t.test('parallel runs of one source import each user once', async (t) => {
  const env = await openMemoryEnv(t, { hasher });
  const items = Array.from({ length: 30 }, (_, i) => djangoUser(100 + i));
  const [a, b] = await Promise.all([importAll(env, items), importAll(env, items)]);
  t.equal(a.summary.imported + b.summary.imported, 30, 'every user imported by one run or the other');
  t.equal(a.summary.duplicate + b.summary.duplicate, 30);
  const imported = (await env.allDecoded()).filter((e) => e.type === 'UserImported');
  t.equal(imported.length, 30, 'one UserImported each');
});

void t.test('an interrupted import (claims made, no user yet) is finished by the next run', async (t) => {
  const env = await openMemoryEnv(t, { hasher });
  const id = importedUserId(env.deps, 'django', '30');
  const { claimIdentifier } = await import('../../../src/commands/identifiers.js');
  await env.deps.keys.create(id);
  await claimIdentifier(env.deps, { kind: 'email', value: 'user30@example.com' }, id, env.ctx());
  const { summary } = await importAll(env, [djangoUser(30)]);
  t.match(summary, { imported: 1 });
  t.strictSame(typesOf(await env.stream(userStream(id))), ['UserImported']);
});

void t.test('sign-in with the Django password upgrades the hash to argon2id, once', async (t) => {
  const env = await openMemoryEnv(t, { hasher });
  const items = fast.map((v, i) => djangoUser(200 + i, { password: v.encoded }));
  items.push(djangoUser(299, { password: '!unusableXyZ' }), djangoUser(298, { is_active: false }));
  await importAll(env, items);
  for (const [i, v] of fast.entries()) {
    const identifier = { kind: 'email' as const, value: `user${200 + i}@example.com` };
    const id = importedUserId(env.deps, 'django', String(200 + i));
    await t.rejects(login(env, identifier, v.wrong_password), { code: 'invalid_credentials' }, `${v.algorithm}: the wrong password is refused`);
    const session = await login(env, identifier, v.password);
    t.equal(session.user.id, id, `${v.algorithm} (${v.encoded.slice(0, 24)}…): signed in with the old password`);
    const stream = await env.stream(userStream(id));
    t.strictSame(typesOf(stream).filter((x) => x === 'PasswordUpgraded'), ['PasswordUpgraded'], 'upgraded');
    const upgraded = stream.find((e) => e.type === 'PasswordUpgraded')?.data as { password_hash: string };
    t.match(upgraded.password_hash, /^\$argon2id\$/);
    await login(env, identifier, v.password);
    t.equal(typesOf(await env.stream(userStream(id))).filter((x) => x === 'PasswordUpgraded').length, 1, 'a second sign-in upgrades nothing');
  }
  await t.rejects(login(env, { kind: 'email', value: 'user299@example.com' }, ''), { code: 'invalid_credentials' }, 'an unusable password never matches');
  t.equal(((await env.stream(userStream(importedUserId(env.deps, 'django', '299'))))[0]?.data as { password_hash: unknown }).password_hash, null);
  await t.rejects(login(env, { kind: 'email', value: 'user298@example.com' }, pbkdf2.password), { code: 'account_disabled' },
    'is_active false: imported disabled');
  const raw = stored(await env.allRaw());
  t.notOk(/\$argon2id\$v=19\$m=1024/.test(raw), 'the new hash is sealed as well');
});

void t.test('the upgrade yields to a password changed in between', async (t) => {
  const env = await openMemoryEnv(t, { hasher });
  await importAll(env, [djangoUser(40)]);
  const id = importedUserId(env.deps, 'django', '40');
  const session = await login(env, { kind: 'email', value: 'user40@example.com' }, pbkdf2.password);
  await changePassword(env.deps, { userId: id, sessionId: session.sessionId, currentPassword: pbkdf2.password, newPassword: 'a-new-Secret-77' }, env.ctx({ actorId: id }));
  const stream = await env.stream(userStream(id));
  let state = initialUser();
  for (const e of stream) state = evolveUser(state, e as never);
  const changed = state.status === 'active' ? state.passwordHash : null;
  t.strictSame(decideUpgradePassword(state, pbkdf2.encoded, 'x'), [], 'a hash checked before the change is not written over it');
  t.ok(changed?.startsWith('$argon2id$'));
  await login(env, { kind: 'email', value: 'user40@example.com' }, 'a-new-Secret-77');
});

void t.test('a batch that loses a race appends nothing; each of its users is then decided alone', async (t) => {
  const env = await openMemoryEnv(t, { hasher });
  let raced = false;
  const store = env.deps.store;
  const racing: typeof store = {
    kind: store.kind,
    appendToStream: (...a) => store.appendToStream(...a),
    appendToStreams: async (appends) => {
      if (!raced) {
        raced = true; // someone registers user52's email between the import's read and its write
        await register(env, { email: 'user52@example.com', password: 'violet-Harbor-42' });
      }
      return store.appendToStreams(appends);
    },
    readStream: (...a) => store.readStream(...a),
    readStreams: (...a) => store.readStreams(...a),
    readAll: (...a) => store.readAll(...a),
    subscribeToAll: (...a) => store.subscribeToAll(...a),
    headPosition: () => store.headPosition(),
    lastPosition: () => store.lastPosition(),
    ping: () => store.ping(),
    close: () => store.close(),
  };
  const deps = env.withDeps({ store: racing });
  const results: ImportResult[] = [];
  const summary = await runImport(deps, each([50, 51, 52, 53].map((id) => djangoUser(id))), {
    source: 'django', onResult: (r) => results.push(r),
  }, () => env.ctx());
  t.ok(raced);
  t.match(summary, { imported: 3, refused: 1, reasons: { email_taken: 1 } });
  t.match(results.find((r) => r.sourceId === '52')?.result, { outcome: 'refused', reason: 'email_taken' });
  const imported = (await env.allDecoded()).filter((e) => e.type === 'UserImported');
  t.equal(imported.length, 3, 'one UserImported for each of the others, none for the loser');
  t.equal(await holderOf(env.deps, { kind: 'email', value: 'user51@example.com' }), importedUserId(env.deps, 'django', '51'));
});
