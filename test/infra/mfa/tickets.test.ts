/** Sign-in tickets, WebAuthn challenges and recovery codes made with the server key. */
import t from 'tap';
import { randomBytes, randomUUID } from 'node:crypto';
import { createMfaSecrets, normaliseRecoveryCode, RECOVERY_CODES_PER_BATCH } from '../../../src/infra/mfa/tickets.js';

const secrets = createMfaSecrets(randomBytes(32));
const other = createMfaSecrets(randomBytes(32));

t.test('a ticket names its user and challenge, and only its hash is kept', async (t) => {
  const userId = randomUUID();
  const challengeId = randomUUID();
  const { ticket, hash } = secrets.newTicket(userId, challengeId);
  t.match(ticket, /^mfa_[A-Za-z0-9_-]{86}$/);
  t.not(hash, ticket);
  t.same(secrets.parseTicket(ticket), { userId, challengeId, hash });
  t.not(secrets.newTicket(userId, challengeId).hash, hash, '256 random bits in each');
  for (const bad of ['', 'mfa_', ticket.slice(0, -1), `${ticket}A`, ticket.replace('mfa_', 'mfx_'), `mfa_${'!'.repeat(86)}`]) {
    t.equal(secrets.parseTicket(bad), null, `refused: ${bad.slice(0, 12)}…`);
  }
});

t.test('a challenge is bound to its purpose, subject and key, and expires', async (t) => {
  const now = new Date('2026-01-01T00:00:00Z');
  const user = randomUUID();
  const c = secrets.newChallenge('passkey-register', user, now, 60_000);
  t.equal(c.length, 40);
  const nonce = secrets.checkChallenge('passkey-register', user, c, now);
  t.match(nonce, /^[A-Za-z0-9_-]{22}$/);
  t.equal(secrets.checkChallenge('passkey-register', user, c, new Date(now.getTime() + 59_999)), nonce, 'good until it expires');
  t.equal(secrets.checkChallenge('passkey-register', user, c, new Date(now.getTime() + 60_000)), null, 'expired');
  t.equal(secrets.checkChallenge('passkey-login', user, c, now), null, 'another purpose');
  t.equal(secrets.checkChallenge('passkey-register', randomUUID(), c, now), null, 'another user');
  t.equal(other.checkChallenge('passkey-register', user, c, now), null, 'another server key');
  const tampered = Uint8Array.from(c);
  tampered[20] = (tampered[20] ?? 0) ^ 1; // the expiry pushed along
  t.equal(secrets.checkChallenge('passkey-register', user, tampered, now), null, 'tampered');
  t.equal(secrets.checkChallenge('passkey-register', user, c.subarray(0, 39), now), null, 'truncated');
  t.same(secrets.ticketChallenge('a'), secrets.ticketChallenge('a'), 'a ticket\'s challenge is derived');
  t.notSame(secrets.ticketChallenge('a'), other.ticketChallenge('a'));
});

t.test('recovery codes: ten of 50 bits, hashed per batch, typed loosely', async (t) => {
  const batch = randomUUID();
  const { codes, hashes } = secrets.newRecoveryCodes(batch);
  t.equal(codes.length, RECOVERY_CODES_PER_BATCH);
  t.equal(new Set(codes).size, codes.length);
  for (const code of codes) t.match(code, /^[0-9a-hjkmnp-tv-z]{5}-[0-9a-hjkmnp-tv-z]{5}$/);
  codes.forEach((code, i) => {
    t.equal(secrets.recoveryCodeHash(batch, code), hashes[i]);
    t.equal(secrets.recoveryCodeHash(batch, ` ${code.toUpperCase().replace('-', ' ')} `), hashes[i], 'case, spaces and dashes do not matter');
    t.not(secrets.recoveryCodeHash(randomUUID(), code), hashes[i], 'bound to the batch');
    t.not(other.recoveryCodeHash(batch, code), hashes[i], 'keyed');
  });
  t.equal(normaliseRecoveryCode('AbCdE-fGhIl-O'), 'abcdefgh110', 'Crockford look-alikes: i, l → 1, o → 0');
});
