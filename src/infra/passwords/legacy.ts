/**
 * Passwords of users imported with another system's hash (Django's `algorithm$…`): the
 * port's hasher, which also verifies those hashes (./django.ts) and says when a hash should
 * be replaced by ours (`needsUpgrade`: the login then records PasswordUpgraded).
 *
 * Timing: a foreign hash costs what its algorithm costs (bcrypt at 12 rounds takes several
 * times our argon2id), so an imported user's sign-in could be told from an unknown one's by
 * its duration. While foreign hashes are being verified, every verification (ours, the
 * dummy one for unknown identifiers, and foreign ones) is padded with a sleep to the
 * slowest typical duration among them (a moving average per kind, so one slow outlier does
 * not set the pace). Sleeping costs no CPU; once no foreign hash has been verified for a
 * while (every imported user who signs in has been upgraded), no padding is added.
 */
import { performance } from 'node:perf_hooks';
import { setTimeout as sleep } from 'node:timers/promises';
import type { ImportedHash, PasswordHasher } from '../../ports/passwordHasher.js';
import { checkDjangoHash, verifyDjangoHash } from './django.js';

/** Our hashes are PHC strings (`$argon2id$…`); another system's are `algorithm$…`. */
export const isForeignHash = (stored: string): boolean => !stored.startsWith('$');

const SMOOTHING = 0.2;
/** Padding never goes past this: a hash set to cost seconds is not a reason to slow every sign-in. */
const MAX_FLOOR_MS = 1000;
/** How long after the last foreign verification the padding stays on. */
const WINDOW_MS = 15 * 60_000;

/** Moving averages of verification durations, per kind of hash. */
export class TimingFloor {
  readonly #typical = new Map<string, number>();
  #lastForeign = -Infinity;
  readonly #windowMs: number;
  readonly #now: () => number;

  constructor(options: { windowMs?: number; now?: () => number } = {}) {
    this.#windowMs = options.windowMs ?? WINDOW_MS;
    this.#now = options.now ?? (() => performance.now());
  }

  observe(kind: string, ms: number, foreign: boolean): void {
    const before = this.#typical.get(kind);
    this.#typical.set(kind, before === undefined ? ms : before + SMOOTHING * (ms - before));
    if (foreign) this.#lastForeign = this.#now();
  }

  /** The duration every verification is padded to now (0: no padding). */
  floor(): number {
    if (this.#now() - this.#lastForeign > this.#windowMs) return 0;
    let max = 0;
    for (const ms of this.#typical.values()) max = Math.max(max, ms);
    return Math.min(max, MAX_FLOOR_MS);
  }
}

export class LegacyAwareHasher implements PasswordHasher {
  readonly #native: PasswordHasher;
  readonly #timing: TimingFloor;

  constructor(native: PasswordHasher, timing = new TimingFloor()) {
    this.#native = native;
    this.#timing = timing;
  }

  hash(password: string): Promise<string> {
    return this.#native.hash(password);
  }

  classifyImported(encoded: string | null): ImportedHash {
    if (encoded === null || encoded === '') return { kind: 'unusable' };
    return isForeignHash(encoded) ? checkDjangoHash(encoded) : this.#native.classifyImported(encoded);
  }

  needsUpgrade(stored: string): boolean {
    return isForeignHash(stored) || this.#native.needsUpgrade(stored);
  }

  async verify(stored: string | null, password: string): Promise<boolean> {
    const started = performance.now();
    const foreign = stored !== null && isForeignHash(stored);
    const ok = foreign ? await verifyDjangoHash(stored, password) : await this.#native.verify(stored, password);
    const took = performance.now() - started;
    this.#timing.observe(foreign ? kindOf(stored) : 'native', took, foreign);
    const rest = this.#timing.floor() - took;
    if (rest > 1) await sleep(rest);
    return ok;
  }
}

function kindOf(stored: string): string {
  const check = checkDjangoHash(stored);
  return check.kind === 'hash' ? `django:${check.algorithm}` : 'foreign';
}
