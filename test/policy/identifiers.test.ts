/**
 * Identifiers a person cannot tell apart are one identifier; spoofing characters are refused;
 * names keep every script (and ZWJ/ZWNJ) but no controls or bidi overrides.
 */
import t from 'tap';
import { isPlainText, normaliseEmail, normaliseIdentifier, normaliseName, normalisePhone } from '../../src/policy/identifiers.js';

void t.test('emails: NFKC, lower case, IDNA domain — look-alikes fold to one', async (t) => {
  const one = 'alice@example.com';
  for (const spelling of [
    'Alice@Example.com', '  alice@example.com\t', 'ａｌｉｃｅ@ｅｘａｍｐｌｅ.ｃｏｍ', 'alice＠example.com', 'ALICE@EXAMPLE.COM',
  ]) t.equal(normaliseEmail(spelling), one, JSON.stringify(spelling));
  t.equal(normaliseEmail('jose\u0301@example.com'), normaliseEmail('jos\u00e9@example.com'), 'NFD and NFC: one address');
  t.equal(normaliseEmail('user@BÜCHER.example'), 'user@bücher.example');
  t.equal(normaliseEmail('user@xn--bcher-kva.example'), 'user@bücher.example', 'punycode and Unicode domains: one');
  t.equal(normaliseEmail('ǅemo@example.com'), normaliseEmail('džemo@example.com'), 'compatibility digraphs fold');
});

void t.test('identifiers refuse control, format and invisible characters (400, never silently dropped)', async (t) => {
  const spoofs: Record<string, string> = {
    'zero-width space': 'ali\u200bce@example.com',
    'zero-width joiner': 'ali\u200dce@example.com',
    'soft hyphen': 'ali\u00adce@example.com',
    'bidi override': '\u202ealice@example.com',
    'bidi isolate': 'alice\u2066@example.com',
    'word joiner': 'alice@exa\u2060mple.com',
    'BOM': '\ufeffalice@example.com',
    'NEL (U+0085)': 'alice\u0085@example.com',
    'NUL': 'alice\u0000@example.com',
    'Hangul filler': 'alice\u3164@example.com',
    'lone surrogate': 'alice\ud800@example.com',
  };
  for (const [what, raw] of Object.entries(spoofs)) {
    t.throws(() => normaliseEmail(raw), { code: 'validation_failed', path: '/email' }, what);
  }
  t.throws(() => normalisePhone('+1 415\u200b555 0142'), { code: 'validation_failed', path: '/phone' }, 'in a phone number too');
  t.throws(() => normaliseIdentifier('+1 415 555\u00000142'), { code: 'validation_failed', path: '/identifier' });
  t.throws(() => normaliseEmail('alice@exa mple.com'), { code: 'validation_failed' }, 'a space in the domain');
  t.throws(() => normaliseEmail('alice@xn--a.example'), { code: 'validation_failed' }, 'a domain IDNA refuses (bad punycode)');
  t.throws(() => normaliseEmail('alice@exa%mple.com'), { code: 'validation_failed' }, 'a forbidden code point in the domain');
});

void t.test('phones: NFKC then E.164', async (t) => {
  t.equal(normalisePhone('＋１ ４１５ ５５５ ０１４２'), '+14155550142', 'full-width digits');
  t.equal(normalisePhone('+7 (123) 456-78-90'), '+71234567890');
});

void t.test('names: any script, ZWJ and ZWNJ kept; controls and bidi overrides refused', async (t) => {
  t.equal(normaliseName('  Ёжик ', '/first_name'), 'Ёжик');
  t.equal(normaliseName('می\u200cخواهم', '/first_name'), 'می\u200cخواهم', 'ZWNJ (Persian) kept');
  t.equal(normaliseName('👩\u200d💻', '/first_name'), '👩\u200d💻', 'ZWJ (emoji) kept');
  for (const bad of ['a\u0000b', 'a\u0085b', '\u202eevil', 'x\u2067y', 'a\u0007']) {
    t.throws(() => normaliseName(bad, '/last_name'), { code: 'validation_failed', path: '/last_name' }, JSON.stringify(bad));
  }
});

void t.test('search text: anything but controls', async (t) => {
  t.ok(isPlainText('anna müller'));
  t.notOk(isPlainText('\u0000'));
  t.notOk(isPlainText('a\u001fb'));
});
