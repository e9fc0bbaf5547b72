/**
 * StateCache: bounded by the weight of what it holds, dropping the entries set longest ago;
 * and a session's state, which no longer grows with its retired tokens.
 */
import t from 'tap';
import { SessionAggregate } from '../../src/domain/session/session.js';
import { StateCache } from '../../src/commands/stateCache.js';
import type { Recorded, SessionEvent } from '../../src/domain/events.js';

void t.test('entries are dropped oldest first once the total weight passes the limit', async (t) => {
  const cache = new StateCache(10);
  for (let i = 0; i < 10; i++) cache.set(`s${i}`, { i }, BigInt(i));
  t.equal(cache.size, 10);
  t.equal(cache.weight, 10);

  cache.set('heavy', { heavy: true }, 0n, 4);
  t.equal(cache.weight, 10, 'room made for the heavy entry');
  t.notOk(cache.get('s0') ?? cache.get('s1') ?? cache.get('s2') ?? cache.get('s3'), 'the four oldest went');
  t.ok(cache.get('s4') && cache.get('heavy'));

  cache.set('s4', { i: 4, again: true }, 5n);
  cache.set('s10', {}, 0n);
  t.ok(cache.get('s4'), 'setting an entry again makes it the newest');
  t.notOk(cache.get('s5'), 'so the next oldest went instead');
  t.strictSame(cache.get('s4'), { state: { i: 4, again: true }, revision: 5n, weight: 1 });

  cache.set('huge', {}, 0n, 100);
  t.equal(cache.size, 1, 'an entry heavier than the limit drops every other one');
  t.ok(cache.get('huge'), 'but stays: it is the one in use');
  t.equal(cache.weight, 100);
  cache.set('small', {}, 0n);
  t.notOk(cache.get('huge'), 'and goes at the next set');
  t.equal(cache.weight, 1);

  cache.delete('small');
  cache.delete('never-there');
  t.equal(cache.size, 0);
  t.equal(cache.weight, 0);
  for (const bad of [0, -3, Number.NaN, Number.POSITIVE_INFINITY]) {
    cache.set(`bad-${bad}`, {}, 0n, bad);
    t.equal(cache.get(`bad-${bad}`) !== undefined && cache.weight, 1, `weight ${bad} counts as 1`);
    cache.delete(`bad-${bad}`);
  }
});

void t.test('a session\'s state stays small however many tokens it retires', async (t) => {
  const ids = { session_id: '00000000-0000-4000-8000-000000000001', user_id: '00000000-0000-4000-8000-000000000002' };
  const at = (revision: number, e: SessionEvent): Recorded<SessionEvent> => ({
    ...e, id: `e${revision}`, streamId: `session-${ids.session_id}`, revision: BigInt(revision), position: BigInt(revision),
    occurredAt: new Date(1_800_000_000_000 + revision * 1000), recordedAt: new Date(1_800_000_000_000 + revision * 1000),
  });
  let state = SessionAggregate.evolve(SessionAggregate.initial(), at(0, {
    type: 'SessionStarted', data: { ...ids, refresh_token_hash: 'h-start', expires_at: '2030-01-01T00:00:00.000Z', user_revision: '0' },
  }));
  const sizes: number[] = [];
  for (let i = 1; i <= 2000; i++) {
    state = SessionAggregate.evolve(state, at(i, {
      type: 'RefreshTokenRotated', data: { ...ids, refresh_token_hash: `h-${String(i).padStart(43, '0')}`, expires_at: '2030-01-01T00:00:00.000Z' },
    }));
    if (i === 100 || i === 2000) sizes.push(JSON.stringify(state, (_, v: unknown) => (typeof v === 'bigint' ? v.toString() : v)).length);
  }
  t.equal(sizes[0], sizes[1], 'the state after 2,000 rotations is the size of the state after 100');
  t.ok((sizes[1] ?? Infinity) < 4096, `a few KB (${sizes[1]} bytes as JSON)`);
});
