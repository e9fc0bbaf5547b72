/**
 * Reads the password hashes Django stores (`django.contrib.auth.hashers`, as written by Django
 * 1.10 to 5.x) without hashing anything: the exact text Django writes, canonical encodings only
 * (Django compares the whole re-encoded string, so anything else never matches there either),
 * and work factors bounded so that a crafted hash cannot tie up the machine. `django.ts` runs
 * only what this file has accepted.
 */

export type DjangoAlgorithm = 'pbkdf2_sha256' | 'pbkdf2_sha1' | 'argon2' | 'bcrypt_sha256' | 'bcrypt' | 'scrypt';

/** What an encoded Django password is: a supported hash, Django's unusable password ("!" followed by anything, also ""), or refused with a short reason (snake_case, e.g. 'unsupported_algorithm:md5', 'malformed', 'parameters_out_of_range'). */
export type DjangoHashCheck =
  | { kind: 'hash'; algorithm: DjangoAlgorithm }
  | { kind: 'unusable' }
  | { kind: 'refused'; reason: string };

export type ParsedDjangoHash =
  | { algorithm: 'pbkdf2_sha256' | 'pbkdf2_sha1'; digest: 'sha256' | 'sha1'; iterations: number; salt: Buffer; hash: Buffer }
  | { algorithm: 'argon2'; phc: string }
  | { algorithm: 'bcrypt_sha256' | 'bcrypt'; bcrypt: string }
  | { algorithm: 'scrypt'; n: number; r: number; p: number; salt: Buffer; hash: Buffer };

export type DjangoParse = { kind: 'hash'; hash: ParsedDjangoHash } | { kind: 'unusable' } | { kind: 'refused'; reason: string };

/**
 * The most work one verification may cost. Each is a few seconds of one core at most, some
 * 10-40 times Django's defaults (PBKDF2 260,000-1,000,000 iterations, bcrypt cost 12, argon2
 * 100 MiB x 2 passes, scrypt 2^14 x 8 x 1-5). bcrypt's format allows cost 31 (2^31 rounds,
 * about a day and a half), so the bound is tighter than the format's.
 */
export const DJANGO_LIMITS = {
  pbkdf2Iterations: 10_000_000,
  bcryptCost: 16,
  argon2MemoryKiB: 1 << 20, // 1 GiB
  argon2TimeCost: 100,
  argon2MemoryTimesPasses: 1 << 22, // KiB x passes: 4 GiB of memory passes
  argon2Parallelism: 255,
  scryptMaxN: 1 << 20,
  scryptMemoryBytes: 256 * 1024 * 1024, // 128 * N * r
  scryptRTimesP: 256,
  scryptWork: 1 << 24, // N * r * p
  encodedLength: 1024,
} as const;

/** Django algorithms this module does not verify (weak, or needing the OS's crypt(3)). */
const UNSUPPORTED = new Set(['sha1', 'md5', 'unsalted_md5', 'unsalted_sha1', 'crypt']);

const MALFORMED = { kind: 'refused', reason: 'malformed' } as const;
const OUT_OF_RANGE = { kind: 'refused', reason: 'parameters_out_of_range' } as const;
const refused = (reason: string): DjangoParse => ({ kind: 'refused', reason });
const hash = (h: ParsedDjangoHash): DjangoParse => ({ kind: 'hash', hash: h });

/** A positive decimal as Django's `%d` writes it: no sign, no leading zero. */
const DIGITS = /^[1-9][0-9]*$/;

/** The value of DIGITS text; Infinity past 2^53, which every bound below refuses. */
function decimal(text: string): number {
  return text.length > 15 ? Infinity : Number(text);
}

/** Standard base64 exactly as Python's `b64encode` writes it (padded), or null. */
function paddedBase64(text: string): Buffer | null {
  if (text.length % 4 !== 0 || !/^[A-Za-z0-9+/]*={0,2}$/.test(text)) return null;
  const bytes = Buffer.from(text, 'base64');
  return bytes.toString('base64') === text ? bytes : null;
}

/** PHC's base64 (standard alphabet, no padding, unused bits zero), or null. */
function phcBase64(text: string): Buffer | null {
  if (!/^[A-Za-z0-9+/]+$/.test(text) || text.length % 4 === 1) return null;
  const bytes = Buffer.from(text, 'base64');
  return bytes.toString('base64').replace(/=+$/, '') === text ? bytes : null;
}

const PBKDF2_LENGTH = { sha256: 32, sha1: 20 } as const;

/** `pbkdf2_sha256$<iterations>$<salt>$<base64 of the 32-byte key>` (pbkdf2_sha1: 20 bytes). */
function parsePbkdf2(algorithm: 'pbkdf2_sha256' | 'pbkdf2_sha1', parts: string[]): DjangoParse {
  const [, iterText = '', saltText = '', hashText = ''] = parts;
  const digest = algorithm === 'pbkdf2_sha256' ? 'sha256' : 'sha1';
  if (parts.length !== 4 || saltText === '' || !DIGITS.test(iterText)) return MALFORMED;
  const bytes = paddedBase64(hashText);
  // Django writes the digest's own length; a shorter key is a prefix of it and must not pass.
  if (!bytes || bytes.length !== PBKDF2_LENGTH[digest]) return MALFORMED;
  const iterations = decimal(iterText);
  if (iterations > DJANGO_LIMITS.pbkdf2Iterations) return OUT_OF_RANGE;
  return hash({ algorithm, digest, iterations, salt: Buffer.from(saltText, 'utf8'), hash: bytes });
}

const ARGON2 = /^argon2\$(argon2id|argon2i|argon2d)\$(?:v=([0-9]+)\$)?m=([0-9]+),t=([0-9]+),p=([0-9]+)\$([^$]+)\$([^$]+)$/;

/**
 * `argon2$argon2id$v=19$m=102400,t=2,p=8$<salt>$<hash>`: "argon2" then a PHC string. Django
 * <= 3.1 wrote argon2i; argon2-cffi < 16 wrote no `v=`, which means Argon2 1.0 (v=16) and is
 * made explicit here. Django never wrote argon2d, so it is refused.
 */
function parseArgon2(encoded: string): DjangoParse {
  const m = ARGON2.exec(encoded);
  if (!m) return MALFORMED;
  const [, variant = '', version, memText = '', timeText = '', parText = '', saltText = '', hashText = ''] = m;
  if (variant === 'argon2d') return refused('unsupported_variant:argon2d');
  if (version !== undefined && version !== '16' && version !== '19') return MALFORMED;
  const salt = phcBase64(saltText);
  const out = phcBase64(hashText);
  if (!salt || salt.length < 8 || !out || out.length < 4) return MALFORMED;
  if (![memText, timeText, parText].every((text) => DIGITS.test(text))) return MALFORMED;
  const [memory, time, par] = [decimal(memText), decimal(timeText), decimal(parText)];
  if (memory > DJANGO_LIMITS.argon2MemoryKiB || time > DJANGO_LIMITS.argon2TimeCost ||
      par > DJANGO_LIMITS.argon2Parallelism || memory * time > DJANGO_LIMITS.argon2MemoryTimesPasses) return OUT_OF_RANGE;
  if (memory < 8 * par) return MALFORMED; // Argon2 needs 8 KiB per lane
  const params = `m=${memText},t=${timeText},p=${parText}`;
  return hash({ algorithm: 'argon2', phc: `$${variant}$v=${version ?? '16'}$${params}$${saltText}$${hashText}` });
}

const BCRYPT_ALPHABET = './ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789';
const BCRYPT = /^\$(2[aby])\$([0-9]{2})\$([./A-Za-z0-9]{22})([./A-Za-z0-9]{31})$/;

/**
 * `bcrypt_sha256$$2b$12$<22 salt><31 checksum>` and `bcrypt$$2b$...`: the algorithm, "$", then
 * the 60-character bcrypt string. The last character of the salt and of the checksum carries
 * unused bits that must be zero (Django re-encodes and compares, so it never matches otherwise).
 */
function parseBcrypt(algorithm: 'bcrypt_sha256' | 'bcrypt', rest: string): DjangoParse {
  const m = BCRYPT.exec(rest);
  if (!m) return MALFORMED;
  const [, , costText = '', salt = '', checksum = ''] = m;
  if (BCRYPT_ALPHABET.indexOf(salt.slice(-1)) % 16 !== 0 || BCRYPT_ALPHABET.indexOf(checksum.slice(-1)) % 4 !== 0) return MALFORMED;
  const cost = Number(costText);
  if (cost < 4 || cost > 31) return MALFORMED;
  if (cost > DJANGO_LIMITS.bcryptCost) return OUT_OF_RANGE;
  return hash({ algorithm, bcrypt: rest });
}

/** `scrypt$<N>$<salt>$<r>$<p>$<base64 of the 64-byte key>` (Django >= 4.0). */
function parseScrypt(parts: string[]): DjangoParse {
  const [, nText = '', saltText = '', rText = '', pText = '', hashText = ''] = parts;
  if (parts.length !== 6 || saltText === '' || ![nText, rText, pText].every((text) => DIGITS.test(text))) return MALFORMED;
  const bytes = paddedBase64(hashText);
  if (!bytes || bytes.length !== 64) return MALFORMED;
  const [n, r, p] = [decimal(nText), decimal(rText), decimal(pText)];
  if (n > DJANGO_LIMITS.scryptMaxN) return OUT_OF_RANGE;
  if (n < 2 || (n & (n - 1)) !== 0) return MALFORMED; // N must be a power of two
  if (r * p > DJANGO_LIMITS.scryptRTimesP || 128 * n * r > DJANGO_LIMITS.scryptMemoryBytes ||
      n * r * p > DJANGO_LIMITS.scryptWork) return OUT_OF_RANGE;
  return hash({ algorithm: 'scrypt', n, r, p, salt: Buffer.from(saltText, 'utf8'), hash: bytes });
}

/** Classifies and takes apart an encoded Django password; pure and cheap. */
export function parseDjangoHash(encoded: string): DjangoParse {
  if (typeof encoded !== 'string') return MALFORMED;
  if (encoded === '' || encoded.startsWith('!')) return { kind: 'unusable' };
  if (encoded.length > DJANGO_LIMITS.encodedLength) return MALFORMED;
  // Django's identify_hasher: ancient unsalted MD5 (bare, or "md5$$") and SHA-1 ("sha1$$").
  if ((encoded.length === 32 && !encoded.includes('$')) || (encoded.length === 37 && encoded.startsWith('md5$$'))) {
    return refused('unsupported_algorithm:unsalted_md5');
  }
  if (encoded.length === 46 && encoded.startsWith('sha1$$')) return refused('unsupported_algorithm:unsalted_sha1');
  const dollar = encoded.indexOf('$');
  if (dollar < 0) return MALFORMED;
  const algorithm = encoded.slice(0, dollar);
  switch (algorithm) {
    case 'pbkdf2_sha256':
    case 'pbkdf2_sha1':
      return parsePbkdf2(algorithm, encoded.split('$'));
    case 'argon2':
      return parseArgon2(encoded);
    case 'bcrypt_sha256':
    case 'bcrypt':
      return parseBcrypt(algorithm, encoded.slice(dollar + 1));
    case 'scrypt':
      return parseScrypt(encoded.split('$'));
    default:
      return UNSUPPORTED.has(algorithm) ? refused(`unsupported_algorithm:${algorithm}`) : refused('unknown_algorithm');
  }
}
