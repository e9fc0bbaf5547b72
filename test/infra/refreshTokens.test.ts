/**
 * Refresh tokens: session id ‖ generation ‖ 32 random bytes, base64url; only the SHA-256
 * of the whole token is ever stored. Tokens from before generations (48 bytes) still parse.
 */
import { randomBytes, randomUUID } from 'node:crypto';
import t from 'tap';
import { createSecrets, hashToken } from '../../src/infra/secrets.js';

const secrets = createSecrets(randomBytes(32));

void t.test('a token carries its session and generation, and parses back', async (t) => {
  const sessionId = randomUUID();
  for (const generation of [0n, 1n, 8_640n, 0xffff_ffffn]) {
    const { token, hash } = secrets.newRefreshToken(sessionId, generation);
    t.match(token, /^[A-Za-z0-9_-]{70}$/, 'base64url, 70 characters');
    t.equal(hash, hashToken(token));
    t.strictSame(secrets.parseRefreshToken(token), { sessionId, hash, generation });
  }
  const a = secrets.newRefreshToken(sessionId, 3n);
  const b = secrets.newRefreshToken(sessionId, 3n);
  t.not(a.token, b.token, '256 random bits each');
  t.throws(() => secrets.newRefreshToken(sessionId, -1n), RangeError);
  t.throws(() => secrets.newRefreshToken(sessionId, 2n ** 32n), RangeError);
});

void t.test('a token from before generations parses with generation null', async (t) => {
  const sessionId = randomUUID();
  const legacy = Buffer.concat([Buffer.from(sessionId.replace(/-/g, ''), 'hex'), randomBytes(32)]).toString('base64url');
  t.strictSame(secrets.parseRefreshToken(legacy), { sessionId, hash: hashToken(legacy), generation: null });
});

void t.test('anything else is not a refresh token', async (t) => {
  const good = secrets.newRefreshToken(randomUUID(), 1n).token;
  for (const bad of ['', 'x', good.slice(1), `${good}A`, `${good.slice(0, -1)}=`, good.replace(/^./, '+'), 'A'.repeat(69), 'A'.repeat(71)]) {
    t.equal(secrets.parseRefreshToken(bad), null, JSON.stringify(bad.slice(0, 12)));
  }
  t.equal(secrets.parseRefreshToken(42 as unknown as string), null);
});
