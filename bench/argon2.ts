/**
 * argon2id cost at the service's parameters (Argon2Hasher's defaults: OWASP's 19 MiB,
 * t=2, p=1), measured in this process one hash at a time while nothing else runs. A login
 * verifies one hash (the same work as hashing), so `cores ÷ hash time` is the most logins
 * a second the machine can do: the login ceiling. Then the same hashes with every core
 * hashing at once, for comparison.
 */
import { availableParallelism } from 'node:os';
import { Argon2Hasher, type Argon2Params } from '../src/infra/passwordHasher.js';
import { mean, percentile } from './stats.js';

export interface Argon2Result {
  params: Argon2Params;
  hashes: number;
  hash_ms_mean: number;
  hash_ms_p50: number;
  hash_ms_p99: number;
  verify_ms_mean: number;
  cores: number;
  /** cores ÷ mean hash time: the logins/s the CPU allows at most (the ceiling). */
  login_ceiling_per_s: number;
  /**
   * Hashes a second with one hash per core in flight and nothing else running (the
   * service's own gate): what hashing alone reaches when every core hashes at once (the
   * cores share caches and memory bandwidth, so it is below cores ÷ hash time). The login
   * target is held to it: logins ÷ this ≥ 0.90.
   */
  all_cores_hashes_per_s: number;
}

export async function measureArgon2(hashes: number): Promise<Argon2Result> {
  const hasher = new Argon2Hasher();
  const password = 'bench: correct horse battery staple';
  await hasher.hash(password); // warm-up (thread pool, code paths)
  const hashTimes: number[] = [];
  let phc = '';
  for (let i = 0; i < hashes; i++) {
    const t0 = performance.now();
    phc = await hasher.hash(password);
    hashTimes.push(performance.now() - t0);
  }
  const verifyTimes: number[] = [];
  for (let i = 0; i < Math.max(1, Math.ceil(hashes / 2)); i++) {
    const t0 = performance.now();
    if (!(await hasher.verify(phc, password))) throw new Error('argon2 verification failed');
    verifyTimes.push(performance.now() - t0);
  }
  const cores = availableParallelism();
  // Every core at once, as under a login load: `cores` hashes in flight until the count is done.
  const total = Math.max(hashes, 5 * cores);
  let started = 0;
  const t0 = performance.now();
  await Promise.all(Array.from({ length: cores }, async () => {
    while (started < total) {
      started += 1;
      await hasher.hash(password);
    }
  }));
  const allCoresSeconds = (performance.now() - t0) / 1000;
  return {
    params: hasher.params,
    hashes,
    hash_ms_mean: mean(hashTimes),
    hash_ms_p50: percentile(hashTimes, 50),
    hash_ms_p99: percentile(hashTimes, 99),
    verify_ms_mean: mean(verifyTimes),
    cores,
    login_ceiling_per_s: cores / (mean(hashTimes) / 1000),
    all_cores_hashes_per_s: total / allCoresSeconds,
  };
}
