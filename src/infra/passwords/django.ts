/**
 * Verifies password hashes written by Django, so that users imported from a Django site can
 * sign in with the passwords they have: PBKDF2 (SHA-256, SHA-1) and scrypt with node:crypto,
 * argon2 (id and the older i) with @node-rs/argon2, bcrypt and bcrypt_sha256 with bcryptjs
 * (maintained, no native build: it runs on the event loop in slices of at most 100 ms). Formats are read by `djangoFormats.ts`; test vectors made by Django itself
 * are in test/fixtures/django-hashes.json (scripts/django-vectors/). The weak ones (md5, sha1,
 * unsalted, crypt) are refused, never verified.
 */
import { createHash, pbkdf2, scrypt, timingSafeEqual } from 'node:crypto';
import { verify as argon2Verify } from '@node-rs/argon2';
import bcrypt from 'bcryptjs';

const bcryptHash = (password: string, salt: string): Promise<string> => bcrypt.hash(password, salt);
import { parseDjangoHash, type DjangoHashCheck, type ParsedDjangoHash } from './djangoFormats.js';

export type { DjangoAlgorithm, DjangoHashCheck } from './djangoFormats.js';

/** What an encoded Django password is, without hashing anything. */
export function checkDjangoHash(encoded: string): DjangoHashCheck {
  const parsed = parseDjangoHash(encoded);
  return parsed.kind === 'hash' ? { kind: 'hash', algorithm: parsed.hash.algorithm } : parsed;
}

/** true only when `password` matches; false for a wrong password, an unusable or malformed or unsupported hash. Never throws. */
export async function verifyDjangoHash(encoded: string, password: string): Promise<boolean> {
  try {
    // Django encodes with UTF-8 and raises on a lone surrogate, which UTF-8 cannot carry.
    if (typeof password !== 'string' || /[\uD800-\uDFFF]/u.test(password)) return false;
    const parsed = parseDjangoHash(encoded);
    if (parsed.kind !== 'hash') return false;
    return await verifyParsed(parsed.hash, Buffer.from(password, 'utf8'));
  } catch {
    return false;
  }
}

function sameBytes(a: Uint8Array, b: Uint8Array): boolean {
  return a.length === b.length && timingSafeEqual(a, b);
}

async function verifyParsed(h: ParsedDjangoHash, password: Buffer): Promise<boolean> {
  switch (h.algorithm) {
    case 'pbkdf2_sha256':
    case 'pbkdf2_sha1': {
      const derived = await new Promise<Buffer>((resolve, reject) => {
        pbkdf2(password, h.salt, h.iterations, h.hash.length, h.digest, (err, key) => (err ? reject(err) : resolve(key)));
      });
      return sameBytes(derived, h.hash);
    }
    case 'scrypt': {
      // OpenSSL needs 128 * r * (N + p + 2) bytes; Node's default allows 32 MiB.
      const maxmem = 128 * h.r * (h.n + h.p + 2) + 1024 * 1024;
      const derived = await new Promise<Buffer>((resolve, reject) => {
        scrypt(password, h.salt, h.hash.length, { N: h.n, r: h.r, p: h.p, maxmem }, (err, key) => (err ? reject(err) : resolve(key)));
      });
      return sameBytes(derived, h.hash);
    }
    case 'argon2':
      // The library reads the variant, version and costs from the PHC string and compares in constant time.
      return await argon2Verify(h.phc, password);
    case 'bcrypt_sha256':
    case 'bcrypt': {
      let input = password;
      if (h.algorithm === 'bcrypt_sha256') {
        // Django: bcrypt of the lowercase hex SHA-256, so that nothing is cut at 72 bytes.
        input = Buffer.from(createHash('sha256').update(password).digest('hex'), 'ascii');
      } else if (input.includes(0)) {
        return false; // Django's bcrypt library refuses NUL bytes (it raises ValueError)
      }
      // As Django does: hash again with the stored salt and cost, compare the strings (past
      // the $2a$/$2b$/$2y$ prefix: one algorithm). bcrypt itself uses only the first 72
      // bytes of the UTF-8 input (bcryptjs encodes the string as UTF-8).
      const again = await bcryptHash(input.toString('utf8'), `$2b$${h.bcrypt.slice(4, 29)}`);
      return sameBytes(Buffer.from(again.slice(3), 'ascii'), Buffer.from(h.bcrypt.slice(3), 'ascii'));
    }
  }
}
