import t from 'tap';
import type { SessionEvent, SessionStarted } from '../../../src/domain/events.js';
import {
  RetiredHashes, decideRevoke, decideRotate, decideStart, evolveSession, initialSession, isLive, type ExistingSession, type Session,
} from '../../../src/domain/session/session.js';
import { SPEC_NOW, ago, at, given, type Evolving } from '../../helpers/spec.js';

const Session: Evolving<Session, SessionEvent> = { initial: initialSession, evolve: evolveSession };
const SID = '5e55100e-2222-4aaa-8bbb-000000000001';
const UID = '7f9c2f0e-1111-4aaa-8bbb-000000000001';
const ids = { session_id: SID, user_id: UID };
const DAY = 86_400_000;
const inADay = new Date(SPEC_NOW.getTime() + DAY);
const inTwoDays = new Date(SPEC_NOW.getTime() + 2 * DAY);

const started = (over: Partial<SessionStarted['data']> = {}): SessionStarted => ({
  type: 'SessionStarted',
  data: { ...ids, refresh_token_hash: 'hash-A', expires_at: inADay.toISOString(), user_revision: '3', amr: ['pwd'], ...over },
});
const rotated = (hash: string, expires = inADay): SessionEvent => ({
  type: 'RefreshTokenRotated', data: { ...ids, refresh_token_hash: hash, expires_at: expires.toISOString() },
});
const revoked = (reason: 'logout' | 'reuse_detected' = 'logout'): SessionEvent => ({ type: 'SessionRevoked', data: { ...ids, reason } });

const existing = (s: Session): ExistingSession => {
  if (s.status === 'none') throw new Error('expected a session');
  return s;
};

const rotate = (presentedHash: string, userAllows = true) => (s: Session, now: Date): SessionEvent[] =>
  decideRotate(s, { presentedHash, newHash: 'hash-NEW', newExpiresAt: inTwoDays, now, userAllows, graceSeconds: 0 });

void t.test('start', async (t) => {
  const w = given(t, Session, []).when(() => decideStart(initialSession(), {
    sessionId: SID, userId: UID, refreshTokenHash: 'hash-A', expiresAt: inADay, userRevision: 3n, amr: ['pwd'],
  }));
  w.then([started()], 'expires_at as ISO-8601, user_revision as a decimal string');
  t.match(w.stateAfter, {
    status: 'active', id: SID, userId: UID, currentHash: 'hash-A', expiresAt: inADay, userRevision: 3n, revokedReason: null,
    createdAt: SPEC_NOW, lastUsedAt: SPEC_NOW,
  });
  t.equal(existing(w.stateAfter).previousHashes.size, 0);
  given(t, Session, [started()]).when((s) => decideStart(s, {
    sessionId: SID, userId: UID, refreshTokenHash: 'x', expiresAt: inADay, userRevision: 0n, amr: ['pwd'],
  })).thenThrows({ code: 'invalid_token' }, 'a session id is used once');
});

void t.test('rotate the current token', async (t) => {
  const w = given(t, Session, [started()]).when(rotate('hash-A'));
  w.then([{ type: 'RefreshTokenRotated', data: { ...ids, refresh_token_hash: 'hash-NEW', expires_at: inTwoDays.toISOString() } }]);
  const after = existing(w.stateAfter);
  t.equal(after.currentHash, 'hash-NEW');
  t.ok(after.previousHashes.has('hash-A'), 'the old token is remembered');
  t.strictSame(after.expiresAt, inTwoDays);
  t.strictSame(after.lastUsedAt, SPEC_NOW);

  given(t, Session, [started(), rotated('hash-B'), rotated('hash-C')]).when(rotate('hash-C'))
    .then([{ type: 'RefreshTokenRotated', data: { ...ids, refresh_token_hash: 'hash-NEW', expires_at: inTwoDays.toISOString() } }],
      'the newest token of a long chain rotates');
});

void t.test('a previous token is reuse: detected and the session revoked', async (t) => {
  const reuse: SessionEvent[] = [
    { type: 'RefreshTokenReuseDetected', data: ids },
    { type: 'SessionRevoked', data: { ...ids, reason: 'reuse_detected' } },
  ];
  const w = given(t, Session, [started(), rotated('hash-B')]).when(rotate('hash-A'));
  w.then(reuse);
  t.match(w.stateAfter, { status: 'revoked', revokedReason: 'reuse_detected' });
  given(t, Session, [started(), rotated('hash-B'), rotated('hash-C')]).when(rotate('hash-A'))
    .then(reuse, 'any earlier token, not only the last one');
  given(t, Session, [started(), rotated('hash-B', ago(1))]).when(rotate('hash-A'))
    .then(reuse, 'even when the session has expired');
  given(t, Session, [started(), rotated('hash-B')]).when(rotate('hash-A', false))
    .then(reuse, 'even when the user no longer allows the session');
  given(t, Session, [started(), rotated('hash-B'), revoked('reuse_detected')]).when(rotate('hash-A'))
    .thenThrows({ code: 'invalid_token' }, 'a revoked session detects nothing more');
  given(t, Session, [started(), rotated('hash-B'), revoked('reuse_detected')]).when(rotate('hash-B'))
    .thenThrows({ code: 'invalid_token' }, 'its newest token stops working too');
});

void t.test('a concurrent refresh that lost the race is not reuse', async (t) => {
  const reuse: SessionEvent[] = [
    { type: 'RefreshTokenReuseDetected', data: ids },
    { type: 'SessionRevoked', data: { ...ids, reason: 'reuse_detected' } },
  ];
  const w = given(t, Session, [started(), at(SPEC_NOW, rotated('hash-B'))]).when(rotate('hash-A'));
  w.thenThrows({ code: 'invalid_token' }, 'presented at the instant of the rotation that retired it: invalid_token');
  given(t, Session, [started(), at(new Date(SPEC_NOW.getTime() + 5), rotated('hash-B'))]).when(rotate('hash-A'))
    .thenThrows({ code: 'invalid_token' }, 'a request that began before the rotation was decided');
  given(t, Session, [started(), at(ago(1), rotated('hash-B'))]).when(rotate('hash-A'))
    .then(reuse, 'one millisecond after the rotation it is reuse');
  given(t, Session, [started(), at(ago(5000), rotated('hash-B')), at(SPEC_NOW, rotated('hash-C'))]).when(rotate('hash-A'))
    .then(reuse, 'a token retired by an earlier rotation is reuse whatever the time');
});

void t.test('invalid tokens', async (t) => {
  given(t, Session, []).when(rotate('hash-A')).thenThrows({ code: 'invalid_token' }, 'no such session');
  given(t, Session, [started()]).when(rotate('hash-UNKNOWN')).thenThrows({ code: 'invalid_token' }, 'a hash never issued');
  given(t, Session, [started(), revoked()]).when(rotate('hash-A')).thenThrows({ code: 'invalid_token' }, 'a revoked session');
  given(t, Session, [started({ expires_at: SPEC_NOW.toISOString() })]).when(rotate('hash-A'))
    .thenThrows({ code: 'invalid_token' }, 'expired at exactly now');
  given(t, Session, [started({ expires_at: ago(1000).toISOString() })]).when(rotate('hash-A'))
    .thenThrows({ code: 'invalid_token' }, 'expired');
  given(t, Session, [started({ expires_at: new Date(SPEC_NOW.getTime() + 1).toISOString() })]).when(rotate('hash-A'))
    .then([{ type: 'RefreshTokenRotated', data: { ...ids, refresh_token_hash: 'hash-NEW', expires_at: inTwoDays.toISOString() } }],
      'one millisecond before expiry still rotates');
  given(t, Session, [started()]).when(rotate('hash-A', false))
    .thenThrows({ code: 'invalid_token' }, 'the user stream no longer allows the session');
});

void t.test('revoke is idempotent; the first reason wins', async (t) => {
  const w = given(t, Session, [started()]).when((s) => decideRevoke(s, 'logout_all'));
  w.then([{ type: 'SessionRevoked', data: { ...ids, reason: 'logout_all' } }]);
  t.match(w.stateAfter, { status: 'revoked', revokedReason: 'logout_all' });
  given(t, Session, [started(), revoked()]).when((s) => decideRevoke(s, 'logout')).then([], 'revoking twice');
  given(t, Session, []).when((s) => decideRevoke(s, 'logout')).then([], 'revoking nothing');
  t.match(given(t, Session, [started(), revoked('logout'), revoked('reuse_detected')]).state, { revokedReason: 'logout' });
});

void t.test('evolve and isLive', async (t) => {
  const startAt = ago(60_000);
  const useAt = ago(30_000);
  const s = existing(given(t, Session, [at(startAt, started()), at(useAt, rotated('hash-B', inTwoDays))]).state);
  t.match(s, { createdAt: startAt, lastUsedAt: useAt, currentHash: 'hash-B', expiresAt: inTwoDays, userRevision: 3n });
  t.strictSame([...s.previousHashes], ['hash-A']);
  const noted = given(t, Session, [started(), { type: 'RefreshTokenReuseDetected', data: ids }]).state;
  t.match(noted, { status: 'active' }, 'a detection alone does not revoke (the SessionRevoked after it does)');
  t.strictSame(given(t, Session, [rotated('x')]).state, { status: 'none' }, 'events before a start fold to nothing');

  t.ok(isLive(s, SPEC_NOW));
  t.notOk(isLive(s, inTwoDays), 'not live at its expiry');
  t.notOk(isLive(given(t, Session, [started(), revoked()]).state, SPEC_NOW));
  t.notOk(isLive({ status: 'none' }, SPEC_NOW));
});

void t.test('retired hashes: oldest first, each rotation adds one, earlier states unchanged', async (t) => {
  const one = RetiredHashes.none.with('h1');
  const two = one.with('h2');
  const branch = one.with('h3');
  t.strictSame([...RetiredHashes.none], []);
  t.equal(RetiredHashes.none.size, 0);
  t.notOk(RetiredHashes.none.has('h1'));
  t.strictSame([...two], ['h1', 'h2']);
  t.equal(two.size, 2);
  t.equal(two.last, 'h2');
  t.ok(two.has('h1') && two.has('h2'));
  t.notOk(two.has('h3'));
  t.strictSame([...one], ['h1'], 'growing a list leaves the one it grew from alone');
  t.strictSame([...branch], ['h1', 'h3']);

  const hashes = Array.from({ length: 200 }, (_, i) => `hash-${i}`);
  const events = [started({ refresh_token_hash: 'hash-first' }), ...hashes.map((h) => rotated(h))];
  const s = existing(given(t, Session, events).state);
  t.equal(s.previousHashes.size, 200, 'every retired token is remembered');
  t.equal(s.currentHash, 'hash-199');
  t.ok(s.previousHashes.has('hash-first') && s.previousHashes.has('hash-100'));
  t.notOk(s.previousHashes.has('hash-199'), 'the current token is not retired');
});

void t.test('retired hashes stay exact across the packed chunks', async (t) => {
  const hashes = Array.from({ length: 300 }, (_, i) => `h${i}`);
  const lists = [RetiredHashes.none];
  for (const h of hashes) lists.push((lists.at(-1) ?? RetiredHashes.none).with(h));
  const all = lists[300] ?? RetiredHashes.none;
  t.strictSame([...all], hashes, 'every hash, oldest first, through chunk and tail');
  t.equal(all.size, 300);
  t.equal(all.last, 'h299');
  t.ok(hashes.every((h) => all.has(h)), 'each one found, packed or not');
  for (const partial of ['h', '99', 'h00', 'h3000', '\nh1\n', 'h1\nh2', '']) {
    t.notOk(all.has(partial), `no match on a part of one or across two: ${JSON.stringify(partial)}`);
  }
  for (const n of [63, 64, 65, 128, 129]) {
    const earlier = lists[n] ?? RetiredHashes.none;
    t.strictSame([...earlier], hashes.slice(0, n), `the list of ${n} is unchanged by what grew from it`);
    t.notOk(earlier.has(`h${n}`), `the list of ${n} does not hold the next one`);
    const branch = earlier.with('other');
    t.strictSame([...branch], [...hashes.slice(0, n), 'other'], `a branch off the list of ${n}`);
    t.notOk(all.has('other'), 'and the longer list does not see the branch');
  }
  t.throws(() => RetiredHashes.none.with('a\nb'), RangeError, 'a hash with a line break is refused');
});
