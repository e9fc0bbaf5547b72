/**
 * Keyed hashes and tokens.
 * - Identifier stream names: HMAC-SHA256 of the normalised identifier with a key derived
 *   from the master key, so nobody without the key can confirm an identifier by hashing.
 * - Refresh tokens: base64url(session id (16 bytes) ‖ generation (4 bytes) ‖ 32 random
 *   bytes): 256 bits of randomness; only SHA-256 of the whole token is stored. Carrying the
 *   session id lets a refresh be decided from the session's own stream, with no read-model
 *   lookup; the generation is the revision of the event that recorded the token's hash, so
 *   a retired token is recognised by reading that one event, however long the stream.
 *   Tokens issued before generations (48 bytes, no generation) are still read.
 */
import { createHash, createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import type { Secrets } from '../ports/secrets.js';
import { deriveKey, open, seal } from './crypto.js';

const UUID_HEX = /^[0-9a-f]{32}$/;

/** The largest generation a refresh token carries (4 bytes): four billion rotations of one session. */
const MAX_GENERATION = 0xffff_ffffn;

export function createSecrets(master: Buffer): Secrets {
  const identifierKey = deriveKey(master, 'identifier-hmac');
  const tokenKey = deriveKey(master, 'recovery-token');
  const hashKey = deriveKey(master, 'recovery-token-hash');
  const idKey = deriveKey(master, 'derived-ids');
  const webhookKey = deriveKey(master, 'webhook-secrets');
  const mac = (key: Buffer, ...parts: string[]): Buffer => createHmac('sha256', key).update(parts.join('\u0000')).digest();
  return {
    identifierHash(kind, normalised) {
      return createHmac('sha256', identifierKey).update(`${kind}:${normalised}`).digest('hex');
    },
    newRefreshToken(sessionId, generation) {
      if (generation < 0n || generation > MAX_GENERATION) throw new RangeError(`a refresh token generation must be 0…${MAX_GENERATION}`);
      const g = Buffer.alloc(4);
      g.writeUInt32BE(Number(generation));
      const token = Buffer.concat([uuidToBytes(sessionId), g, randomBytes(32)]).toString('base64url');
      return { token, hash: hashToken(token) };
    },
    parseRefreshToken(token) {
      if (typeof token !== 'string' || (token.length !== 70 && token.length !== 64) || !/^[A-Za-z0-9_-]+$/.test(token)) return null;
      const bytes = Buffer.from(token, 'base64url');
      if (bytes.length !== 52 && bytes.length !== 48) return null;
      const hex = bytes.subarray(0, 16).toString('hex');
      if (!UUID_HEX.test(hex)) return null;
      const generation = bytes.length === 52 ? BigInt(bytes.readUInt32BE(16)) : null;
      return { sessionId: bytesToUuid(hex), hash: hashToken(token), generation };
    },
    linkToken(purpose, userId, requestId) {
      return Buffer.concat([uuidToBytes(userId), mac(tokenKey, 'link', purpose, userId, requestId)]).toString('base64url');
    },
    parseLinkToken(token) {
      if (typeof token !== 'string' || token.length !== 64 || !/^[A-Za-z0-9_-]+$/.test(token)) return null;
      const hex = Buffer.from(token, 'base64url').subarray(0, 16).toString('hex');
      return UUID_HEX.test(hex) ? { userId: bytesToUuid(hex) } : null;
    },
    code(purpose, userId, requestId) {
      // 48 bits reduced to 6 digits: the bias (2^48 mod 10^6 over 2^48) is below 10^-8.
      const n = mac(tokenKey, 'code', purpose, userId, requestId).readUIntBE(0, 6) % 1_000_000;
      return n.toString().padStart(6, '0');
    },
    tokenHash(requestId, tokenOrCode) {
      return mac(hashKey, requestId, tokenOrCode).toString('base64url');
    },
    sameHash,
    derivedId(seed) {
      const b = mac(idKey, seed).subarray(0, 16);
      b[6] = ((b[6] ?? 0) & 0x0f) | 0x40; // a version-4-shaped uuid
      b[8] = ((b[8] ?? 0) & 0x3f) | 0x80;
      return bytesToUuid(b.toString('hex'));
    },
    newWebhookSecret() {
      return `whsec_${randomBytes(32).toString('base64')}`;
    },
    sealWebhookSecret(webhookId, secret) {
      return seal(webhookKey, Buffer.from(secret, 'utf8'), `webhook:${webhookId}`);
    },
    openWebhookSecret(webhookId, sealed) {
      return open(webhookKey, sealed, `webhook:${webhookId}`)?.toString('utf8') ?? null;
    },
  };
}

export const hashToken = (token: string): string => createHash('sha256').update(token).digest('base64url');

export function sameHash(a: string, b: string): boolean {
  const x = Buffer.from(a);
  const y = Buffer.from(b);
  return x.length === y.length && timingSafeEqual(x, y);
}

function uuidToBytes(uuid: string): Buffer {
  return Buffer.from(uuid.replace(/-/g, ''), 'hex');
}

function bytesToUuid(hex: string): string {
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`;
}
