/**
 * Ed25519 signing keys for access tokens, shared by every instance through PostgreSQL:
 * private keys sealed with a key derived from the master key, public keys as JWKs. The
 * newest key signs; the previous ones stay in the JWKS so tokens they signed verify until
 * they expire. `kid` is the RFC 7638 thumbprint of the public key.
 */
import { createHash, createPrivateKey, createPublicKey, generateKeyPairSync, type KeyObject } from 'node:crypto';
import { ConfigError } from '../config.js';
import { deriveKey, open, seal } from './crypto.js';
import { migrate } from './migrate.js';
import type { Sql } from './sql.js';

export interface PublicJwk {
  kty: 'OKP';
  crv: 'Ed25519';
  x: string;
  kid: string;
  alg: 'EdDSA';
  use: 'sig';
}

export interface SigningKey {
  kid: string;
  privatePem: string;
  publicPem: string;
  jwk: PublicJwk;
  createdAt: Date;
}

const MIGRATIONS = [{
  version: 1,
  name: 'signing keys',
  sql: `create table authstream.signing_keys (
    kid text primary key,
    sealed_private_key text not null,
    public_jwk jsonb not null,
    created_at timestamptz not null default clock_timestamp(),
    retired_at timestamptz
  )`,
}];

/** How many keys the JWKS publishes: the current one and its predecessors. */
export const PUBLISHED_KEYS = 2;

export function describeKey(privateKey: KeyObject): Omit<SigningKey, 'createdAt'> {
  if (privateKey.asymmetricKeyType !== 'ed25519') throw new Error('not an Ed25519 key');
  const publicKey = createPublicKey(privateKey);
  const x = (publicKey.export({ format: 'jwk' }) as { x: string }).x;
  const kid = createHash('sha256').update(JSON.stringify({ crv: 'Ed25519', kty: 'OKP', x })).digest('base64url');
  return {
    kid,
    privatePem: privateKey.export({ format: 'pem', type: 'pkcs8' }).toString(),
    publicPem: publicKey.export({ format: 'pem', type: 'spki' }).toString(),
    jwk: { kty: 'OKP', crv: 'Ed25519', x, kid, alg: 'EdDSA', use: 'sig' },
  };
}

export class SigningKeys {
  readonly #sql: Sql;
  readonly #sealKey: Buffer;
  #keys: SigningKey[] = []; // newest first
  #byKid = new Map<string, SigningKey>();

  private constructor(sql: Sql, master: Buffer) {
    this.#sql = sql;
    this.#sealKey = deriveKey(master, 'signing-keys');
  }

  /** Loads the keys; creates the first one (or imports `configuredPem`) when needed. */
  static async open(sql: Sql, master: Buffer, configuredPem?: string): Promise<SigningKeys> {
    await migrate(sql, 'signing-keys', MIGRATIONS);
    const keys = new SigningKeys(sql, master);
    if (configuredPem !== undefined) {
      let privateKey: KeyObject;
      try {
        privateKey = createPrivateKey(configuredPem);
      } catch {
        throw new ConfigError('JWT_PRIVATE_KEY', 'is not a readable PEM private key');
      }
      if (privateKey.asymmetricKeyType !== 'ed25519') throw new ConfigError('JWT_PRIVATE_KEY', 'must be an Ed25519 key (EdDSA)');
      await keys.#insert(privateKey, true);
    }
    await keys.reload();
    if (keys.#keys.length === 0) {
      await keys.rotate();
    }
    return keys;
  }

  async #insert(privateKey: KeyObject, onlyIfNewest: boolean): Promise<void> {
    const d = describeKey(privateKey);
    const sealed = seal(this.#sealKey, Buffer.from(d.privatePem), d.kid);
    if (onlyIfNewest) {
      // A configured key becomes current unless it already is (restarts keep it current).
      const { rows } = await this.#sql.query<{ kid: string }>(
        `select kid from authstream.signing_keys where retired_at is null order by created_at desc limit 1`);
      if (rows[0]?.kid === d.kid) return;
      await this.#sql.query(`delete from authstream.signing_keys where kid = $1`, [d.kid]);
    }
    await this.#sql.query(
      `insert into authstream.signing_keys (kid, sealed_private_key, public_jwk) values ($1, $2, $3)
       on conflict (kid) do nothing`,
      [d.kid, sealed, JSON.stringify(d.jwk)],
    );
  }

  /** Generates a new current key; the old current one stays published as previous. */
  async rotate(): Promise<SigningKey> {
    const { privateKey } = generateKeyPairSync('ed25519');
    await this.#insert(privateKey, false);
    await this.#sql.query(`select pg_notify('authstream_signing_keys', '')`);
    await this.reload();
    return this.current();
  }

  async reload(): Promise<void> {
    const { rows } = await this.#sql.query<{ kid: string; sealed_private_key: string; created_at: Date }>(
      `select kid, sealed_private_key, created_at from authstream.signing_keys
       where retired_at is null order by created_at desc, kid limit $1`, [PUBLISHED_KEYS]);
    const keys: SigningKey[] = [];
    for (const r of rows) {
      const pem = open(this.#sealKey, r.sealed_private_key, r.kid);
      if (!pem) throw new ConfigError('MASTER_KEY', 'cannot unseal the stored signing keys: is this the master key they were made with?');
      keys.push({ ...describeKey(createPrivateKey(pem.toString())), createdAt: r.created_at });
    }
    this.#keys = keys;
    this.#byKid = new Map(keys.map((k) => [k.kid, k]));
  }

  /** Re-reads the keys whenever any instance rotates. */
  async follow(): Promise<() => Promise<void>> {
    return this.#sql.listen('authstream_signing_keys', () => {
      void this.reload().catch(() => {});
    });
  }

  current(): SigningKey {
    const k = this.#keys[0];
    if (!k) throw new Error('no signing key loaded');
    return k;
  }

  byKid(kid: string): SigningKey | undefined {
    return this.#byKid.get(kid);
  }

  jwks(): { keys: PublicJwk[] } {
    return { keys: this.#keys.map((k) => k.jwk) };
  }
}
