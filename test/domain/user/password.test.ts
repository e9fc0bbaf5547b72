import t from 'tap';
import { PASSWORD_MAX, PASSWORD_MIN, checkPasswordPolicy } from '../../../src/domain/user/password.js';
import { isCommonPassword } from '../../../src/infra/commonPasswords.js';

const check = (password: string): void => checkPasswordPolicy(password, isCommonPassword);
const weak = { code: 'weak_password' };

void t.test('length in code points: 8 to 256', async (t) => {
  t.equal(PASSWORD_MIN, 8);
  t.equal(PASSWORD_MAX, 256);
  t.throws(() => check('kq7#vz2'), weak, '7 characters');
  t.throws(() => check(''), weak, 'empty');
  t.doesNotThrow(() => check('kq7#vz2!'), '8 characters');
  t.doesNotThrow(() => check('x'.repeat(256)), '256 characters');
  t.throws(() => check('x'.repeat(257)), weak, '257 characters');
  t.doesNotThrow(() => check('        '), 'any characters, even 8 spaces (no composition rules)');
});

void t.test('code points, not UTF-16 units', async (t) => {
  const emoji = '🔐';
  t.equal(emoji.length, 2, 'one emoji is two UTF-16 units');
  t.doesNotThrow(() => check(emoji.repeat(8)), '8 emoji');
  t.throws(() => check(emoji.repeat(7)), weak, '7 emoji (14 units) is still too short');
  t.doesNotThrow(() => check(emoji.repeat(256)), '256 emoji (512 units)');
  t.throws(() => check(emoji.repeat(257)), weak, '257 emoji');
  t.doesNotThrow(() => check('пароль日本'), '8 code points of other scripts');
});

void t.test('common passwords, case-insensitively', async (t) => {
  for (const p of ['password', 'PASSWORD', 'PassWord', 'iloveyou', 'ILoveYou', 'qwertyuiop', '12345678']) {
    t.throws(() => check(p), weak, `${p} is common`);
  }
  t.doesNotThrow(() => check('correct horse battery staple'), 'an uncommon passphrase');

  const seen: string[] = [];
  t.throws(() => checkPasswordPolicy('MixedCase!Pass', (p) => {
    seen.push(p);
    return true;
  }), weak, 'the list decides');
  t.strictSame(seen, ['mixedcase!pass'], 'the list is asked with the lower-cased password');
  const asked: string[] = [];
  t.throws(() => checkPasswordPolicy('short', (p) => {
    asked.push(p);
    return false;
  }), weak);
  t.strictSame(asked, [], 'length is checked first');
});
