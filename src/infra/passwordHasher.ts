/**
 * argon2id at OWASP's minimum (19 MiB, t=2, p=1), PHC string format, via @node-rs/argon2
 * (measured faster than `argon2` here; see docs/benchmarks.md). `verifyOrDummy` spends the
 * same work when there is no user, so timing does not tell unknown users apart.
 */
import { hash, verify, type Algorithm } from '@node-rs/argon2';

/** Algorithm.Argon2id (a const enum in the package's types, so spelled as its value). */
const ARGON2ID = 2 as Algorithm;

export interface PasswordHasher {
  hash(password: string): Promise<string>;
  /** false for a wrong password, a missing hash or a malformed one. */
  verify(phc: string | null, password: string): Promise<boolean>;
}

export interface Argon2Params {
  memoryCost: number; // KiB
  timeCost: number;
  parallelism: number;
}

export const OWASP_ARGON2ID: Argon2Params = { memoryCost: 19_456, timeCost: 2, parallelism: 1 };

export class Argon2Hasher implements PasswordHasher {
  readonly params: Argon2Params;
  #dummy: Promise<string> | undefined;

  constructor(params: Argon2Params = OWASP_ARGON2ID) {
    this.params = params;
  }

  hash(password: string): Promise<string> {
    return hash(password, { algorithm: ARGON2ID, ...this.params });
  }

  async verify(phc: string | null, password: string): Promise<boolean> {
    if (!phc) {
      // Same work as a real verification, then a certain "no".
      this.#dummy ??= this.hash('authstream-dummy-password');
      await verify(await this.#dummy, password).catch(() => false);
      return false;
    }
    try {
      return await verify(phc, password);
    } catch {
      return false;
    }
  }
}
