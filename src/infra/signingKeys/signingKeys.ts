/**
 * Ed25519 signing keys for access tokens, shared by every instance through PostgreSQL:
 * private keys sealed with a key derived from the master key, public keys as JWKs. `kid`
 * is the RFC 7638 thumbprint of the public key.
 *
 * A key goes through three states:
 * - next: generated ahead of time and already published in the JWKS, never used to sign;
 * - current: the one key that signs (every instance signs with it once it has reloaded);
 * - retired: stays published, and keeps verifying, for RETIRED_KEY_HORIZON_SECONDS — the
 *   longest an access token can live, plus a grace for instances that reload late — so
 *   every token it may have signed verifies until it expires.
 *
 * `rotate()` promotes next to current, retires the old current and generates a new next,
 * in one locked transaction, then NOTIFYs every instance. Because the new current key was
 * published (and loaded for verification everywhere) since the previous rotation, tokens
 * it signs verify at once on instances that have not reloaded yet, and in JWKS copies that
 * relying parties cached before the rotation. Instances reload on the NOTIFY and, in case
 * one is missed, every `reloadEveryMs` (30 s by default) and when a token names a kid they
 * do not know (at most every few seconds).
 */
import { createPrivateKey, createPublicKey, type KeyObject } from 'node:crypto';
import { ConfigError } from '../../config.js';
import { MAX_ACCESS_TOKEN_TTL_SECONDS } from '../../domain/settings/settings.js';
import { deriveKey, open, seal } from '../crypto.js';
import { migrate } from '../sql/migrate.js';
import type { Sql, SqlExecutor } from '../../ports/sql.js';

import {
  type PublicJwk,
  type KeyStatus,
  type PublishedKey,
  type SigningKey,
  describeKey,
  generate,
  parseJwk,
} from './keys.js';
import { SIGNING_KEY_MIGRATIONS, type KeyRow, LOCK, currentKid, nextKid } from './storage.js';

export type { KeyStatus, PublicJwk, PublishedKey, SigningKey } from './keys.js';
export { SIGNING_KEY_MIGRATIONS } from './storage.js';
export { describeKey } from './keys.js';

export const CHANNEL = 'authstream_signing_keys';

/** Slack for instances that reload late (missed NOTIFY, polling) and for clock skew. */
export const RETIREMENT_GRACE_SECONDS = 300;
/** How long a retired key stays published and keeps verifying. */
export const RETIRED_KEY_HORIZON_SECONDS = MAX_ACCESS_TOKEN_TTL_SECONDS + RETIREMENT_GRACE_SECONDS;
/** Upper bound on the JWKS size, whatever the rotation rate (unretired and most recently retired keys win). */
export const MAX_PUBLISHED_KEYS = 100;
/** Fallback reload period, in case a NOTIFY is missed. */
export const DEFAULT_RELOAD_EVERY_MS = 30_000;
/** At most one reload per this period is triggered by tokens naming an unknown kid. */
const UNKNOWN_KID_RELOAD_EVERY_MS = 5_000;

export interface RotationResult {
  /** The key that signs from now on. */
  current: SigningKey;
  /** The key that signed until now (retired, still published), if there was one. */
  previousKid: string | null;
  /** The key pre-published for the next rotation. */
  nextKid: string;
}

export class SigningKeys {
  readonly #sql: Sql;
  readonly #sealKey: Buffer;
  #current: SigningKey | undefined;
  #published: PublishedKey[] = []; // current, next, then the others newest first
  #byKid = new Map<string, PublishedKey>();
  /** Derived key material by kid: public PEMs, and the unsealed private PEM of the current key. */
  readonly #publicPems = new Map<string, string>();
  readonly #privatePems = new Map<string, string>();
  #running: Promise<void> | null = null;
  #queued: Promise<void> | null = null;
  #lastUnknownKidReload = 0;

  private constructor(sql: Sql, master: Buffer) {
    this.#sql = sql;
    this.#sealKey = deriveKey(master, 'signing-keys');
  }

  /** Loads the keys; creates the first current and next keys (or imports `configuredPem`) when needed. */
  static async open(sql: Sql, master: Buffer, configuredPem?: string): Promise<SigningKeys> {
    await migrate(sql, 'signing-keys', SIGNING_KEY_MIGRATIONS);
    const keys = new SigningKeys(sql, master);
    let configured: KeyObject | undefined;
    if (configuredPem !== undefined) {
      try {
        configured = createPrivateKey(configuredPem);
      } catch {
        throw new ConfigError('JWT_PRIVATE_KEY', 'is not a readable PEM private key');
      }
      if (configured.asymmetricKeyType !== 'ed25519') throw new ConfigError('JWT_PRIVATE_KEY', 'must be an Ed25519 key (EdDSA)');
    }
    await sql.transaction(async (tx) => {
      await tx.query(LOCK);
      let changed = false;
      // A configured key becomes current unless it already is (restarts keep it current).
      if (configured !== undefined) changed = (await keys.#activateConfigured(tx, configured)) || changed;
      if ((await currentKid(tx)) === null) {
        await keys.#insert(tx, generate(), 'current');
        changed = true;
      }
      if ((await nextKid(tx)) === null) {
        await keys.#insert(tx, generate(), 'next');
        changed = true;
      }
      if (changed) await tx.query(`select pg_notify($1, 'open')`, [CHANNEL]);
    });
    await keys.reload();
    return keys;
  }

  async #activateConfigured(tx: SqlExecutor, privateKey: KeyObject): Promise<boolean> {
    const d = describeKey(privateKey);
    if ((await currentKid(tx)) === d.kid) return false;
    await tx.query(`update authstream.signing_keys set retired_at = clock_timestamp()
                     where activated_at is not null and retired_at is null`);
    await tx.query(
      `insert into authstream.signing_keys (kid, sealed_private_key, public_jwk, activated_at)
       values ($1, $2, $3, clock_timestamp())
       on conflict (kid) do update set activated_at = clock_timestamp(), retired_at = null,
         sealed_private_key = excluded.sealed_private_key`,
      [d.kid, seal(this.#sealKey, Buffer.from(d.privatePem), d.kid), JSON.stringify(d.jwk)],
    );
    return true;
  }

  async #insert(tx: SqlExecutor, privateKey: KeyObject, as: 'current' | 'next'): Promise<string> {
    const d = describeKey(privateKey);
    await tx.query(
      `insert into authstream.signing_keys (kid, sealed_private_key, public_jwk, activated_at)
       values ($1, $2, $3, case when $4::boolean then clock_timestamp() end)
       on conflict (kid) do nothing`,
      [d.kid, seal(this.#sealKey, Buffer.from(d.privatePem), d.kid), JSON.stringify(d.jwk), as === 'current'],
    );
    return d.kid;
  }

  /**
   * Promotes the pre-published next key to current, retires the old current one (it stays
   * published for RETIRED_KEY_HORIZON_SECONDS) and pre-publishes a new next key. Every
   * instance switches to the new key when it gets the NOTIFY.
   */
  async rotate(): Promise<RotationResult> {
    const { previousKid, currentKid: promoted, nextKid: fresh } = await this.#sql.transaction(async (tx) => {
      await tx.query(LOCK);
      const previous = await currentKid(tx);
      let promote = await nextKid(tx);
      if (promote === null) promote = await this.#insert(tx, generate(), 'next'); // nothing pre-published: use a fresh key
      await tx.query(`update authstream.signing_keys set retired_at = clock_timestamp()
                       where activated_at is not null and retired_at is null`);
      await tx.query(`update authstream.signing_keys set activated_at = clock_timestamp() where kid = $1`, [promote]);
      const next = await this.#insert(tx, generate(), 'next');
      await tx.query(`select pg_notify($1, $2)`, [CHANNEL, promote]);
      return { previousKid: previous, currentKid: promote, nextKid: next };
    });
    await this.reload();
    const current = this.current();
    if (current.kid !== promoted) {
      // Another rotation committed in between; report what signs now.
      return { current, previousKid, nextKid: this.next()?.kid ?? fresh };
    }
    return { current, previousKid, nextKid: fresh };
  }

  /**
   * Re-reads the published keys. Reloads never overlap: a call made while one runs waits
   * for it and then runs once more (calls made meanwhile share that run), so the state
   * applied last is always the newest read.
   */
  reload(): Promise<void> {
    if (this.#queued) return this.#queued;
    if (this.#running) {
      const queued = this.#running.catch(() => {}).then(() => {
        this.#queued = null;
        return this.#start();
      });
      this.#queued = queued;
      return queued;
    }
    return this.#start();
  }

  #start(): Promise<void> {
    const run = this.#load().finally(() => {
      if (this.#running === run) this.#running = null;
    });
    this.#running = run;
    return run;
  }

  async #load(): Promise<void> {
    const { rows } = await this.#sql.query<KeyRow>(
      `select kid, sealed_private_key, public_jwk, created_at, activated_at, retired_at
         from authstream.signing_keys
        where retired_at is null or retired_at > clock_timestamp() - ($1::int * interval '1 second')
        order by retired_at desc nulls first, created_at desc, kid
        limit $2`,
      [RETIRED_KEY_HORIZON_SECONDS, MAX_PUBLISHED_KEYS],
    );
    const active = rows
      .filter((r) => r.activated_at !== null && r.retired_at === null)
      .sort((a, b) => (b.activated_at?.getTime() ?? 0) - (a.activated_at?.getTime() ?? 0) || b.created_at.getTime() - a.created_at.getTime());
    const currentRow = active[0];
    const nextRow = rows.find((r) => r.activated_at === null && r.retired_at === null);

    const published: PublishedKey[] = [];
    let current: SigningKey | undefined;
    if (currentRow) {
      current = { ...this.#toPublished(currentRow, 'current'), privatePem: this.#privatePem(currentRow) };
      published.push(current);
    }
    if (nextRow) published.push(this.#toPublished(nextRow, 'next'));
    for (const r of rows) {
      if (r === currentRow || r === nextRow) continue;
      published.push(this.#toPublished(r, 'retired'));
    }

    this.#current = current;
    this.#published = published;
    this.#byKid = new Map(published.map((k) => [k.kid, k]));
    for (const kid of [...this.#publicPems.keys()]) if (!this.#byKid.has(kid)) this.#publicPems.delete(kid);
    for (const kid of [...this.#privatePems.keys()]) if (kid !== current?.kid) this.#privatePems.delete(kid);
  }

  #toPublished(r: KeyRow, status: KeyStatus): PublishedKey {
    const jwk = parseJwk(r.kid, r.public_jwk);
    let publicPem = this.#publicPems.get(r.kid);
    if (publicPem === undefined) {
      publicPem = createPublicKey({ key: { kty: jwk.kty, crv: jwk.crv, x: jwk.x }, format: 'jwk' })
        .export({ format: 'pem', type: 'spki' }).toString();
      this.#publicPems.set(r.kid, publicPem);
    }
    return {
      kid: r.kid, publicPem, jwk, status,
      createdAt: r.created_at,
      activatedAt: r.activated_at,
      retiredAt: status === 'current' ? null : r.retired_at,
    };
  }

  #privatePem(r: KeyRow): string {
    const known = this.#privatePems.get(r.kid);
    if (known !== undefined) return known;
    const pem = open(this.#sealKey, r.sealed_private_key, r.kid);
    if (!pem) throw new ConfigError('MASTER_KEY', 'cannot unseal the stored signing keys: is this the master key they were made with?');
    const d = describeKey(createPrivateKey(pem.toString()));
    if (d.kid !== r.kid) throw new Error(`signing key ${r.kid} does not match its stored kid`);
    this.#privatePems.set(r.kid, d.privatePem);
    return d.privatePem;
  }

  /**
   * Re-reads the keys whenever any instance rotates (LISTEN/NOTIFY), and every
   * `reloadEveryMs` in case a notification is missed. Resolves to a stop function.
   */
  async follow(options: { reloadEveryMs?: number } = {}): Promise<() => Promise<void>> {
    const reload = () => {
      void this.reload().catch(() => {});
    };
    const unlisten = await this.#sql.listen(CHANNEL, reload);
    const timer = setInterval(reload, options.reloadEveryMs ?? DEFAULT_RELOAD_EVERY_MS);
    timer.unref();
    return async () => {
      clearInterval(timer);
      await unlisten();
    };
  }

  /** The key that signs now. */
  current(): SigningKey {
    const k = this.#current;
    if (!k) throw new Error('no signing key loaded');
    return k;
  }

  /** The pre-published key the next rotation promotes. */
  next(): PublishedKey | undefined {
    return this.#published.find((k) => k.status === 'next');
  }

  /** Any published key (current, next or retired within the horizon) by kid. */
  byKid(kid: string): PublishedKey | undefined {
    const key = this.#byKid.get(kid);
    if (key === undefined) {
      // Perhaps rotated twice before this instance heard of it: look again (rate-limited).
      const now = Date.now();
      if (now - this.#lastUnknownKidReload >= UNKNOWN_KID_RELOAD_EVERY_MS) {
        this.#lastUnknownKidReload = now;
        void this.reload().catch(() => {});
      }
    }
    return key;
  }

  /** Every published key: current first, then next, then retired ones, newest first. */
  published(): readonly PublishedKey[] {
    return this.#published;
  }

  /** The JWK Set: every key that may have signed a token that has not expired yet, and the next key. */
  jwks(): { keys: PublicJwk[] } {
    return { keys: this.#published.map((k) => k.jwk) };
  }
}

