/**
 * Django password hashes against the verdicts of Django itself: every vector in
 * test/fixtures/django-hashes.json was made and checked by Django's own hashers
 * (scripts/django-vectors/generate.py), so no Python is needed here. Then the refusals:
 * unusable, weak or unknown algorithms, malformed text and work factors out of bounds.
 */
import t from 'tap';
import fc from 'fast-check';
import { readFileSync } from 'node:fs';
import { checkDjangoHash, verifyDjangoHash, type DjangoAlgorithm } from '../../../src/infra/passwords/django.js';

interface Vector {
  algorithm: DjangoAlgorithm | 'unusable';
  encoded: string;
  password: string;
  wrong_password: string;
  django_check_password: boolean;
  django_check_wrong: boolean;
  note: string;
}
interface Tampered {
  algorithm: string; encoded: string; password: string; django_check_password: boolean | null; django_raises: string | null; note: string;
}
const fixture = JSON.parse(readFileSync(new URL('../../fixtures/django-hashes.json', import.meta.url), 'utf8')) as {
  generated_by: string; vectors: Vector[]; unsupported: Vector[]; tampered: Tampered[];
};

const first = (algorithm: string, note = ''): Vector => {
  const v = fixture.vectors.find((x) => x.algorithm === algorithm && x.note.includes(note));
  if (!v) throw new Error(`no ${algorithm} vector`);
  return v;
};
/** The vector's encoding with its last field's raw bytes changed by `change`, re-encoded canonically. */
const withHash = (encoded: string, change: (b: Buffer) => Buffer, padded = true): string => {
  const cut = encoded.lastIndexOf('$');
  const text = change(Buffer.from(encoded.slice(cut + 1), 'base64')).toString('base64');
  return encoded.slice(0, cut + 1) + (padded ? text : text.replace(/=+$/, ''));
};
const flipLast = (b: Buffer): Buffer => {
  const c = Buffer.from(b);
  c[c.length - 1]! ^= 0x01;
  return c;
};

void t.test('the fixture covers every supported format, at low costs and at Django defaults', async (t) => {
  t.match(fixture.generated_by, /^Django 3\.2\./);
  const algorithms = new Set(fixture.vectors.map((v) => v.algorithm));
  for (const a of ['pbkdf2_sha256', 'pbkdf2_sha1', 'argon2', 'bcrypt_sha256', 'bcrypt', 'scrypt', 'unusable']) {
    t.ok(algorithms.has(a as DjangoAlgorithm), a);
  }
  for (const a of ['pbkdf2_sha256', 'pbkdf2_sha1', 'argon2', 'bcrypt_sha256', 'bcrypt', 'scrypt']) {
    t.ok(fixture.vectors.some((v) => v.algorithm === a && /Django [34]\.2 default/.test(v.note)), `${a} at Django's defaults`);
  }
  t.ok(fixture.vectors.some((v) => v.encoded.startsWith('argon2$argon2i$m=')), 'an argon2i hash without v=');
  t.ok(fixture.vectors.some((v) => v.django_check_wrong), 'a wrong password Django accepts (bcrypt cuts at 72 bytes)');
});

void t.test('agrees with Django on every vector, right and wrong password', async (t) => {
  // One at a time: the Django-default vectors are the slow ones and would only queue in libuv.
  for (const v of fixture.vectors) {
    const check = checkDjangoHash(v.encoded);
    if (v.algorithm === 'unusable') t.same(check, { kind: 'unusable' }, v.note);
    else t.same(check, { kind: 'hash', algorithm: v.algorithm }, `${v.algorithm}: ${v.note}`);
    t.equal(await verifyDjangoHash(v.encoded, v.password), v.django_check_password, `${v.algorithm} right: ${v.note}`);
    t.equal(await verifyDjangoHash(v.encoded, v.wrong_password), v.django_check_wrong, `${v.algorithm} wrong: ${v.note}`);
  }
});

void t.test('an unusable password matches nothing', async (t) => {
  for (const encoded of ['', '!', '!abc', first('unusable').encoded, '!pbkdf2_sha256$1000$salt$x']) {
    t.same(checkDjangoHash(encoded), { kind: 'unusable' }, JSON.stringify(encoded));
    for (const password of ['', '!', 'abc', encoded]) t.equal(await verifyDjangoHash(encoded, password), false);
  }
});

void t.test('weak Django algorithms are refused by name, even with the right password', async (t) => {
  t.ok(fixture.unsupported.length >= 5);
  for (const v of fixture.unsupported) {
    t.same(checkDjangoHash(v.encoded), { kind: 'refused', reason: `unsupported_algorithm:${v.algorithm}` }, v.note);
    t.equal(v.django_check_password, true, 'Django itself accepts it');
    t.equal(await verifyDjangoHash(v.encoded, v.password), false, v.note);
  }
  t.same(checkDjangoHash('whirlpool$salt$abc'), { kind: 'refused', reason: 'unknown_algorithm' });
});

void t.test('hashes Django rejects (or raises on) are false here, and never throw', async (t) => {
  for (const v of fixture.tampered) {
    t.ok(v.django_check_password === false || v.django_raises !== null, `Django: ${v.note}`);
    t.equal(await verifyDjangoHash(v.encoded, v.password), false, `${v.algorithm}: ${v.note}`);
  }
});

void t.test('a hash that differs from the derived key in its last byte does not match', async (t) => {
  for (const v of [first('pbkdf2_sha256'), first('pbkdf2_sha1'), first('scrypt')]) {
    const changed = withHash(v.encoded, flipLast);
    t.same(checkDjangoHash(changed), { kind: 'hash', algorithm: v.algorithm }, 'still well-formed');
    t.equal(await verifyDjangoHash(v.encoded, v.password), true);
    t.equal(await verifyDjangoHash(changed, v.password), false, v.algorithm);
  }
  const argon = first('argon2', 'argon2id, t=1');
  t.equal(await verifyDjangoHash(withHash(argon.encoded, flipLast, false), argon.password), false, 'argon2');
});

void t.test('malformed and out-of-range hashes are refused without hashing', async (t) => {
  const pb = first('pbkdf2_sha256').encoded; // pbkdf2_sha256$1000$<salt>$<hash>
  const sc = first('scrypt').encoded; // scrypt$1024$<salt>$8$1$<hash>
  const ar = first('argon2', 'argon2id, t=1').encoded; // ...$m=64,t=1,p=1$...
  const bc = first('bcrypt').encoded; // bcrypt$$2b$04$...
  const cases: Array<[string, string, string]> = [
    ['truncated', pb.slice(0, 40), 'malformed'],
    ['no hash field', pb.slice(0, pb.lastIndexOf('$')), 'malformed'],
    ['bad base64', pb.replace(/\$[^$]+$/, '$!!!!not*base64!!!!!!!!!!!!!!!!!!!!!!!!!!!='), 'malformed'],
    ['base64 without padding', pb.replace(/=$/, ''), 'malformed'],
    ['non-numeric iterations', pb.replace('$1000$', '$abc$'), 'malformed'],
    ['negative iterations', pb.replace('$1000$', '$-1000$'), 'malformed'],
    ['iterations with leading zero', pb.replace('$1000$', '$01000$'), 'malformed'],
    ['empty salt', pb.replace(/\$1000\$[^$]+\$/, '$1000$$'), 'malformed'],
    ['hash too short', withHash(pb, (b) => b.subarray(0, 31)), 'malformed'],
    ['hash too long', withHash(pb, (b) => Buffer.concat([b, Buffer.from([0])])), 'malformed'],
    ['sha1 with a sha256-sized hash', pb.replace('pbkdf2_sha256$', 'pbkdf2_sha1$'), 'malformed'],
    ['iterations just over the bound', pb.replace('$1000$', '$10000001$'), 'parameters_out_of_range'],
    ['huge iterations', pb.replace('$1000$', '$99999999999999999999999$'), 'parameters_out_of_range'],
    ['scrypt N = 2^21', sc.replace('scrypt$1024$', 'scrypt$2097152$'), 'parameters_out_of_range'],
    ['scrypt N = 2^40', sc.replace('scrypt$1024$', 'scrypt$1099511627776$'), 'parameters_out_of_range'],
    ['scrypt 1 GiB (N=2^20, r=8)', sc.replace('scrypt$1024$', 'scrypt$1048576$'), 'parameters_out_of_range'],
    ['scrypt r*p huge', sc.replace('$8$1$', '$8$100000$'), 'parameters_out_of_range'],
    ['scrypt N not a power of two', sc.replace('scrypt$1024$', 'scrypt$1000$'), 'malformed'],
    ['scrypt N = 1', sc.replace('scrypt$1024$', 'scrypt$1$'), 'malformed'],
    ['scrypt hash too short', withHash(sc, (b) => b.subarray(0, 32)), 'malformed'],
    ['argon2 m = 2 GiB', ar.replace('m=64,', 'm=2097152,'), 'parameters_out_of_range'],
    ['argon2 t = 101', ar.replace('t=1,', 't=101,'), 'parameters_out_of_range'],
    ['argon2 1 GiB x 8 passes', ar.replace('m=64,t=1,', 'm=1048576,t=8,'), 'parameters_out_of_range'],
    ['argon2 p = 0', ar.replace('p=1$', 'p=0$'), 'malformed'],
    ['argon2 m < 8p', ar.replace('p=1$', 'p=9$'), 'malformed'],
    ['argon2 fields reordered', ar.replace('m=64,t=1,', 't=1,m=64,'), 'malformed'],
    ['argon2 unknown version', ar.replace('v=19', 'v=18'), 'malformed'],
    ['argon2 hash with padding', `${ar}==`, 'malformed'],
    ['argon2d', ar.replace('$argon2id$', '$argon2d$'), 'unsupported_variant:argon2d'],
    ['bcrypt cost 17', bc.replace('$04$', '$17$'), 'parameters_out_of_range'],
    ['bcrypt cost 31', bc.replace('$04$', '$31$'), 'parameters_out_of_range'],
    ['bcrypt cost 03', bc.replace('$04$', '$03$'), 'malformed'],
    ['bcrypt cost 32', bc.replace('$04$', '$32$'), 'malformed'],
    ['bcrypt $2x$', bc.replace('$2b$', '$2x$'), 'malformed'],
    ['bcrypt one character short', bc.slice(0, -1), 'malformed'],
    ['bcrypt one character long', `${bc}.`, 'malformed'],
    ['bcrypt without the empty field', bc.replace('bcrypt$$', 'bcrypt$'), 'malformed'],
    ['no algorithm', 'just some text', 'malformed'],
    ['very long', `pbkdf2_sha256$1000$${'s'.repeat(100_000)}$x`, 'malformed'],
  ];
  for (const [name, encoded, reason] of cases) {
    t.same(checkDjangoHash(encoded), { kind: 'refused', reason }, name);
    t.equal(await verifyDjangoHash(encoded, 'correct horse battery staple'), false, name);
  }
  const start = process.hrtime.bigint();
  for (const [, encoded] of cases) await verifyDjangoHash(encoded, 'x');
  t.ok(process.hrtime.bigint() - start < 200_000_000n, 'refusals cost no hashing');
});

void t.test('passwords Django cannot encode are false, not errors', async (t) => {
  const v = first('pbkdf2_sha256');
  t.equal(await verifyDjangoHash(v.encoded, `${v.password}\uD800`), false, 'lone surrogate');
  const u = first('pbkdf2_sha256', 'non-ASCII');
  t.match(u.password, /🔑/u);
  t.equal(await verifyDjangoHash(u.encoded, u.password), true, 'a surrogate pair (4-byte UTF-8) is not refused');
  const b = first('bcrypt', 'ASCII');
  t.equal(await verifyDjangoHash(b.encoded, `${b.password}\0`), false, 'NUL with plain bcrypt (Django raises)');
  t.equal(await verifyDjangoHash(null as unknown as string, 'x'), false);
  t.equal(await verifyDjangoHash(v.encoded, undefined as unknown as string), false);
  t.same(checkDjangoHash(42 as unknown as string), { kind: 'refused', reason: 'malformed' });
});

void t.test('arbitrary text and mutated vectors never throw', async (t) => {
  fc.assert(fc.property(fc.string({ maxLength: 200 }), (s) => {
    const c = checkDjangoHash(s);
    return c.kind === 'hash' || c.kind === 'unusable' || c.kind === 'refused';
  }), { numRuns: 500 });
  const cheap = [first('pbkdf2_sha256').encoded, first('bcrypt', 'ASCII').encoded, first('scrypt').encoded, first('argon2').encoded];
  await fc.assert(fc.asyncProperty(
    fc.constantFrom(...cheap), fc.nat(), fc.string({ minLength: 0, maxLength: 3 }), fc.string({ maxLength: 8 }),
    async (encoded, at, insert, password) => {
      const i = at % (encoded.length + 1);
      const mutated = encoded.slice(0, i) + insert + encoded.slice(i + 1);
      return typeof (await verifyDjangoHash(mutated, password)) === 'boolean';
    },
  ), { numRuns: 100 });
  t.pass('no throw');
});
