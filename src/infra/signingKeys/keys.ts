/** Ed25519 key material: JWKs, RFC 7638 thumbprints as `kid`, generation and parsing. */
import { createHash, createPublicKey, generateKeyPairSync, type KeyObject } from 'node:crypto';

export interface PublicJwk {
  kty: 'OKP';
  crv: 'Ed25519';
  x: string;
  kid: string;
  alg: 'EdDSA';
  use: 'sig';
}

export type KeyStatus = 'next' | 'current' | 'retired';

/** A published key: enough to verify, never the private half. */
export interface PublishedKey {
  kid: string;
  publicPem: string;
  jwk: PublicJwk;
  status: KeyStatus;
  createdAt: Date;
  activatedAt: Date | null;
  retiredAt: Date | null;
}

/** The current key: the only one whose private half is held in memory. */
export interface SigningKey extends PublishedKey {
  privatePem: string;
}

export function describeKey(privateKey: KeyObject): { kid: string; privatePem: string; publicPem: string; jwk: PublicJwk } {
  if (privateKey.asymmetricKeyType !== 'ed25519') throw new Error('not an Ed25519 key');
  const publicKey = createPublicKey(privateKey);
  const x = (publicKey.export({ format: 'jwk' }) as { x: string }).x;
  const kid = thumbprint(x);
  return {
    kid,
    privatePem: privateKey.export({ format: 'pem', type: 'pkcs8' }).toString(),
    publicPem: publicKey.export({ format: 'pem', type: 'spki' }).toString(),
    jwk: { kty: 'OKP', crv: 'Ed25519', x, kid, alg: 'EdDSA', use: 'sig' },
  };
}

/** RFC 7638 JWK thumbprint of an Ed25519 public key (members in lexicographic order). */
export function thumbprint(x: string): string {
  return createHash('sha256').update(JSON.stringify({ crv: 'Ed25519', kty: 'OKP', x })).digest('base64url');
}

export function generate(): KeyObject {
  return generateKeyPairSync('ed25519').privateKey;
}

export function parseJwk(kid: string, raw: unknown): PublicJwk {
  const value: unknown = typeof raw === 'string' ? JSON.parse(raw) : raw;
  const x = typeof value === 'object' && value !== null ? (value as { x?: unknown }).x : undefined;
  if (typeof x !== 'string' || thumbprint(x) !== kid) throw new Error(`stored public key ${kid} is not a valid Ed25519 JWK`);
  return { kty: 'OKP', crv: 'Ed25519', x, kid, alg: 'EdDSA', use: 'sig' };
}
