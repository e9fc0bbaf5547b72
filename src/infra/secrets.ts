/**
 * Keyed hashes and tokens.
 * - Identifier stream names: HMAC-SHA256 of the normalised identifier with a key derived
 *   from the master key, so nobody without the key can confirm an identifier by hashing.
 * - Refresh tokens: base64url(session id (16 bytes) ‖ 32 random bytes): 256 bits of
 *   randomness; only SHA-256 of the whole token is stored. Carrying the session id lets a
 *   refresh be decided from the session's own stream, with no read-model lookup.
 */
import { createHash, createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import type { Secrets } from '../ports/secrets.js';
import { deriveKey } from './crypto.js';

const UUID_HEX = /^[0-9a-f]{32}$/;

export function createSecrets(master: Buffer): Secrets {
  const identifierKey = deriveKey(master, 'identifier-hmac');
  return {
    identifierHash(kind, normalised) {
      return createHmac('sha256', identifierKey).update(`${kind}:${normalised}`).digest('hex');
    },
    newRefreshToken(sessionId) {
      const token = Buffer.concat([uuidToBytes(sessionId), randomBytes(32)]).toString('base64url');
      return { token, hash: hashToken(token) };
    },
    parseRefreshToken(token) {
      if (typeof token !== 'string' || token.length !== 64 || !/^[A-Za-z0-9_-]+$/.test(token)) return null;
      const bytes = Buffer.from(token, 'base64url');
      if (bytes.length !== 48) return null;
      const hex = bytes.subarray(0, 16).toString('hex');
      if (!UUID_HEX.test(hex)) return null;
      return { sessionId: bytesToUuid(hex), hash: hashToken(token) };
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
