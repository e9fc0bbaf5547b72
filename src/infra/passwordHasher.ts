/**
 * argon2id at OWASP's minimum (19 MiB, t=2, p=1), PHC string format, via @node-rs/argon2
 * (measured faster than `argon2` here; see docs/benchmarks.md). `verifyOrDummy` spends the
 * same work when there is no user, so timing does not tell unknown users apart.
 */
import { availableParallelism } from 'node:os';
import { hash, verify, type Algorithm } from '@node-rs/argon2';
import type { ImportedHash, PasswordHasher } from '../ports/passwordHasher.js';

/** Algorithm.Argon2id (a const enum in the package's types, so spelled as its value). */
const ARGON2ID = 2 as Algorithm;

export interface Argon2Params {
  memoryCost: number; // KiB
  timeCost: number;
  parallelism: number;
}

export const OWASP_ARGON2ID: Argon2Params = { memoryCost: 19_456, timeCost: 2, parallelism: 1 };

/**
 * Runs at most `limit` hashes at once. Each argon2 call holds `memoryCost` of memory and a
 * core; more calls in flight than cores only queue in libuv's pool and add 19 MiB each to
 * the process (measured: the login peak RSS fell from 204 to 170 MiB with 2 instead of 4).
 */
class Gate {
  readonly #limit: number;
  #running = 0;
  readonly #waiting: Array<() => void> = [];

  constructor(limit: number) {
    this.#limit = Math.max(1, limit);
  }

  async run<T>(fn: () => Promise<T>): Promise<T> {
    if (this.#running >= this.#limit) await new Promise<void>((resolve) => this.#waiting.push(resolve));
    this.#running += 1;
    try {
      return await fn();
    } finally {
      this.#running -= 1;
      this.#waiting.shift()?.();
    }
  }
}

export class Argon2Hasher implements PasswordHasher {
  readonly params: Argon2Params;
  #dummy: Promise<string> | undefined;
  readonly #gate: Gate;

  constructor(params: Argon2Params = OWASP_ARGON2ID, concurrency = availableParallelism()) {
    this.params = params;
    this.#gate = new Gate(concurrency);
  }

  /** Only our own format: the imported hashes of other systems are LegacyAwareHasher's. */
  classifyImported(encoded: string | null): ImportedHash {
    if (encoded === null || encoded === '') return { kind: 'unusable' };
    return encoded.startsWith('$argon2id$') ? { kind: 'hash', algorithm: 'argon2id' } : { kind: 'refused', reason: 'unsupported_algorithm' };
  }

  needsUpgrade(stored: string): boolean {
    const { memoryCost, timeCost, parallelism } = this.params;
    return !stored.startsWith(`$argon2id$v=19$m=${memoryCost},t=${timeCost},p=${parallelism}$`);
  }

  hash(password: string): Promise<string> {
    return this.#gate.run(() => hash(password, { algorithm: ARGON2ID, ...this.params }));
  }

  async verify(phc: string | null, password: string): Promise<boolean> {
    if (!phc) {
      // Same work as a real verification, then a certain "no".
      this.#dummy ??= this.hash('authstream-dummy-password');
      const dummy = await this.#dummy;
      await this.#gate.run(() => verify(dummy, password)).catch(() => false);
      return false;
    }
    try {
      return await this.#gate.run(() => verify(phc, password));
    } catch {
      return false;
    }
  }
}
