/**
 * The counts of a StreamRead (ports/eventStore.ts), checked alike by every adapter: each a
 * non-negative integer when given, and `latest` or `maxCount`, not both.
 */
import type { StreamRead } from '../ports/eventStore.js';

export function streamReadCounts(r: StreamRead): { latest: number | undefined; maxCount: number | undefined } {
  for (const [name, n] of [['latest', r.latest], ['maxCount', r.maxCount]] as const) {
    if (n !== undefined && (!Number.isInteger(n) || n < 0)) throw new RangeError(`${name} must be a non-negative integer, got ${n}`);
  }
  if (r.latest !== undefined && r.maxCount !== undefined) throw new RangeError('a stream read takes latest or maxCount, not both');
  return { latest: r.latest, maxCount: r.maxCount };
}
