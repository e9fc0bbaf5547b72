/**
 * Server-keyed secrets of second factors:
 * - sign-in tickets: `mfa_` + base64url(user id ‖ challenge id ‖ 32 random bytes); only
 *   SHA-256 of the whole ticket is recorded (MfaChallengeIssued), and the ids in it let the
 *   second call go straight to the user's `mfa-` stream;
 * - WebAuthn challenges: a ticket's is an HMAC of its challenge id; the others are
 *   nonce ‖ expiry ‖ HMAC(purpose, subject, nonce, expiry), checked with no stored state
 *   (a passkey sign-in records the nonce it used, so it is not accepted twice);
 * - recovery codes: ten of 50 bits each (Crockford base32, `xxxxx-xxxxx`), stored as an
 *   HMAC keyed by the server and bound to their batch.
 */
import { createHash, createHmac, randomBytes, randomInt, timingSafeEqual } from 'node:crypto';
import type { ChallengePurpose, MfaSecrets } from '../../ports/mfa.js';
import { deriveKey } from '../crypto.js';

const UUID_HEX = /^[0-9a-f]{32}$/;
const TICKET_PREFIX = 'mfa_';
const CROCKFORD = '0123456789abcdefghjkmnpqrstvwxyz';
export const RECOVERY_CODES_PER_BATCH = 10;

const toBytes = (uuid: string): Buffer => Buffer.from(uuid.replace(/-/g, ''), 'hex');
const toUuid = (hex: string): string => `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`;

/** A recovery code as typed: lower-cased, separators dropped, Crockford's look-alikes mapped. */
export const normaliseRecoveryCode = (code: string): string =>
  code.toLowerCase().replace(/[\s-]/g, '').replace(/[il]/g, '1').replace(/o/g, '0');

export function createMfaSecrets(master: Buffer): MfaSecrets {
  const challengeKey = deriveKey(master, 'mfa-challenges');
  const codeKey = deriveKey(master, 'mfa-recovery-codes');
  const mac = (key: Buffer, ...parts: (string | Buffer)[]): Buffer => {
    const h = createHmac('sha256', key);
    for (const p of parts) h.update(typeof p === 'string' ? Buffer.from(p, 'utf8') : p).update('\u0000');
    return h.digest();
  };
  return {
    newTicket(userId, challengeId) {
      const ticket = TICKET_PREFIX + Buffer.concat([toBytes(userId), toBytes(challengeId), randomBytes(32)]).toString('base64url');
      return { ticket, hash: createHash('sha256').update(ticket).digest('base64url') };
    },
    parseTicket(ticket) {
      if (typeof ticket !== 'string' || ticket.length !== TICKET_PREFIX.length + 86 || !ticket.startsWith(TICKET_PREFIX)) return null;
      const body = ticket.slice(TICKET_PREFIX.length);
      if (!/^[A-Za-z0-9_-]+$/.test(body)) return null;
      const bytes = Buffer.from(body, 'base64url');
      if (bytes.length !== 64) return null;
      const user = bytes.subarray(0, 16).toString('hex');
      const challenge = bytes.subarray(16, 32).toString('hex');
      if (!UUID_HEX.test(user) || !UUID_HEX.test(challenge)) return null;
      return { userId: toUuid(user), challengeId: toUuid(challenge), hash: createHash('sha256').update(ticket).digest('base64url') };
    },
    ticketChallenge(challengeId) {
      return new Uint8Array(mac(challengeKey, 'ticket', challengeId));
    },
    newChallenge(purpose, subject, now, ttlMs) {
      const nonce = randomBytes(16);
      const expiry = Buffer.alloc(8);
      expiry.writeBigUInt64BE(BigInt(now.getTime() + ttlMs));
      return new Uint8Array(Buffer.concat([nonce, expiry, mac(challengeKey, purpose, subject, nonce, expiry).subarray(0, 16)]));
    },
    checkChallenge(purpose: ChallengePurpose, subject, challenge, now) {
      const bytes = Buffer.from(challenge);
      if (bytes.length !== 40) return null;
      const nonce = bytes.subarray(0, 16);
      const expiry = bytes.subarray(16, 24);
      const expected = mac(challengeKey, purpose, subject, nonce, expiry).subarray(0, 16);
      if (!timingSafeEqual(expected, bytes.subarray(24))) return null;
      if (Number(expiry.readBigUInt64BE()) <= now.getTime()) return null;
      return nonce.toString('base64url');
    },
    newRecoveryCodes(batchId) {
      const codes: string[] = [];
      for (let i = 0; i < RECOVERY_CODES_PER_BATCH; i++) {
        let raw = '';
        for (let j = 0; j < 10; j++) raw += CROCKFORD[randomInt(32)];
        codes.push(`${raw.slice(0, 5)}-${raw.slice(5)}`);
      }
      return { codes, hashes: codes.map((c) => mac(codeKey, batchId, normaliseRecoveryCode(c)).toString('base64url')) };
    },
    recoveryCodeHash(batchId, code) {
      return mac(codeKey, batchId, normaliseRecoveryCode(code)).toString('base64url');
    },
  };
}
