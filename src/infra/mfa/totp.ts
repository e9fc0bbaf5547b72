/**
 * One-time codes: HOTP (RFC 4226) and TOTP (RFC 6238). The service issues SHA-1, six
 * digits, 30-second steps, the parameters every authenticator app takes; the functions
 * take the others too (the RFC's test vectors use SHA-256/512 and eight digits). Codes are
 * compared in constant time; a code is looked for in the step of `now` and one either side.
 */
import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import QRCode from 'qrcode';
import type { OneTimeCodes } from '../../ports/mfa.js';

export type TotpAlgorithm = 'sha1' | 'sha256' | 'sha512';

export interface TotpParams {
  algorithm: TotpAlgorithm;
  digits: number;
  periodSeconds: number;
}

export const APP_TOTP: TotpParams = { algorithm: 'sha1', digits: 6, periodSeconds: 30 };

const BASE32 = 'ABCDEFGHIJKLMNOPQRSTUVWXYZ234567';

export function base32Encode(bytes: Uint8Array): string {
  let bits = 0;
  let value = 0;
  let out = '';
  for (const byte of bytes) {
    value = (value << 8) | byte;
    bits += 8;
    while (bits >= 5) {
      out += BASE32[(value >>> (bits - 5)) & 31];
      bits -= 5;
    }
  }
  if (bits > 0) out += BASE32[(value << (5 - bits)) & 31];
  return out;
}

/** Decodes base32 (case, spaces and padding ignored); null when it is not base32. */
export function base32Decode(text: string): Buffer | null {
  const clean = text.replace(/[\s=]/g, '').toUpperCase();
  const out: number[] = [];
  let bits = 0;
  let value = 0;
  for (const ch of clean) {
    const v = BASE32.indexOf(ch);
    if (v < 0) return null;
    value = ((value << 5) | v) & 0xffff;
    bits += 5;
    if (bits >= 8) {
      out.push((value >>> (bits - 8)) & 0xff);
      bits -= 8;
    }
  }
  return Buffer.from(out);
}

/** RFC 4226 §5.3: the code of `counter`, `digits` long. */
export function hotp(key: Buffer, counter: number, digits: number, algorithm: TotpAlgorithm = 'sha1'): string {
  const msg = Buffer.alloc(8);
  msg.writeBigUInt64BE(BigInt(counter));
  const mac = createHmac(algorithm, key).update(msg).digest();
  const offset = (mac[mac.length - 1] ?? 0) & 0x0f;
  const binary = mac.readUInt32BE(offset) & 0x7fffffff;
  return (binary % 10 ** digits).toString().padStart(digits, '0');
}

export const stepAt = (unixSeconds: number, periodSeconds: number): number => Math.floor(unixSeconds / periodSeconds);

/** RFC 6238: the code at `unixSeconds`. */
export const totpAt = (key: Buffer, unixSeconds: number, p: TotpParams = APP_TOTP): string =>
  hotp(key, stepAt(unixSeconds, p.periodSeconds), p.digits, p.algorithm);

function sameCode(a: string, b: string): boolean {
  const x = Buffer.from(a);
  const y = Buffer.from(b);
  return x.length === y.length && timingSafeEqual(x, y);
}

/** The step (of `now`, the one before, the one after) whose code is `code`; null for none. All three are computed. */
export function matchTotpStep(key: Buffer, code: string, now: Date, p: TotpParams = APP_TOTP): number | null {
  const typed = code.replace(/\s/g, '');
  if (typed.length !== p.digits || !/^\d+$/.test(typed)) return null;
  const current = stepAt(Math.floor(now.getTime() / 1000), p.periodSeconds);
  let found: number | null = null;
  for (const step of [current, current - 1, current + 1]) {
    if (sameCode(hotp(key, step, p.digits, p.algorithm), typed) && found === null) found = step;
  }
  return found;
}

export function createOneTimeCodes(issuer: string): OneTimeCodes {
  return {
    newSecret: () => base32Encode(randomBytes(20)),
    matchStep(secret, code, now) {
      const key = base32Decode(secret);
      return key === null || key.length === 0 ? null : matchTotpStep(key, code, now);
    },
    uri(secret, account) {
      // Key Uri Format (google-authenticator wiki): issuer in the label and as a parameter.
      const label = `${encodeURIComponent(issuer)}:${encodeURIComponent(account)}`;
      const params = new URLSearchParams({
        secret, issuer, algorithm: 'SHA1', digits: String(APP_TOTP.digits), period: String(APP_TOTP.periodSeconds),
      });
      return `otpauth://totp/${label}?${params.toString()}`;
    },
    async qrCode(uri) {
      const svg = await QRCode.toString(uri, { type: 'svg', errorCorrectionLevel: 'M', margin: 2 });
      return `data:image/svg+xml;base64,${Buffer.from(svg, 'utf8').toString('base64')}`;
    },
  };
}
