import t from 'tap';
import type { SessionEvent, SessionStarted } from '../../../src/domain/events.js';
import {
  SESSION_WINDOW, SessionAggregate, TIMED_RETIREMENTS, decideRevoke, decideRotate, decideStart, evolveSession, initialSession, isLive,
  issues, retiredRecently, type ExistingSession, type Session,
} from '../../../src/domain/session/session.js';
import { SPEC_NOW, ago, at, given, recordAll, type Evolving } from '../../helpers/spec.js';

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
  t.strictSame(existing(w.stateAfter).recentRetirements, []);
  given(t, Session, [started()]).when((s) => decideStart(s, {
    sessionId: SID, userId: UID, refreshTokenHash: 'x', expiresAt: inADay, userRevision: 0n, amr: ['pwd'],
  })).thenThrows({ code: 'invalid_token' }, 'a session id is used once');
});

void t.test('rotate the current token', async (t) => {
  const w = given(t, Session, [started()]).when(rotate('hash-A'));
  w.then([{ type: 'RefreshTokenRotated', data: { ...ids, refresh_token_hash: 'hash-NEW', expires_at: inTwoDays.toISOString() } }]);
  const after = existing(w.stateAfter);
  t.equal(after.currentHash, 'hash-NEW');
  t.ok(retiredRecently(after, 'hash-A'), 'the old token is remembered');
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
  t.strictSame(s.recentRetirements.map((r) => r.hash), ['hash-A']);
  t.strictSame(s.recentRetirements[0]?.at, useAt, 'retired when its rotation was recorded');
  const noted = given(t, Session, [started(), { type: 'RefreshTokenReuseDetected', data: ids }]).state;
  t.match(noted, { status: 'active' }, 'a detection alone does not revoke (the SessionRevoked after it does)');
  t.strictSame(given(t, Session, [rotated('x')]).state, { status: 'none' }, 'events before a start fold to nothing');

  t.ok(isLive(s, SPEC_NOW));
  t.notOk(isLive(s, inTwoDays), 'not live at its expiry');
  t.notOk(isLive(given(t, Session, [started(), revoked()]).state, SPEC_NOW));
  t.notOk(isLive({ status: 'none' }, SPEC_NOW));
});

void t.test('a token retired longer ago than the state remembers is reuse only if the command found it issued', async (t) => {
  const hashes = Array.from({ length: 40 }, (_, i) => `hash-${i}`);
  const events = [started({ refresh_token_hash: 'hash-first' }), ...hashes.map((h) => at(ago(60_000), rotated(h)))];
  const s = existing(given(t, Session, events).state);
  t.equal(s.recentRetirements.length, TIMED_RETIREMENTS, 'the state keeps the newest retirements only');
  t.strictSame(s.recentRetirements.map((r) => r.hash), hashes.slice(40 - TIMED_RETIREMENTS - 1, 39), 'the newest, oldest first');
  t.notOk(retiredRecently(s, 'hash-first'));
  const reuse: SessionEvent[] = [
    { type: 'RefreshTokenReuseDetected', data: ids },
    { type: 'SessionRevoked', data: { ...ids, reason: 'reuse_detected' } },
  ];
  const present = (presentedHash: string, issuedBefore?: boolean) => (state: Session, now: Date) => decideRotate(state, {
    presentedHash, newHash: 'hash-NEW', newExpiresAt: inTwoDays, now, userAllows: true, graceSeconds: 0, ...(issuedBefore === undefined ? {} : { issuedBefore }),
  });
  given(t, Session, events).when(present('hash-first', true)).then(reuse, 'the first token, found in its event: reuse');
  given(t, Session, events).when(present('hash-first')).thenThrows({ code: 'invalid_token' }, 'not looked for: unknown');
  given(t, Session, events).when(present('hash-forged', false)).thenThrows({ code: 'invalid_token' }, 'not found where it says: forged');
  given(t, Session, events).when(present('hash-30')).then(reuse, 'a recent one needs no look-up');
});

void t.test('issues: which event recorded a token', async (t) => {
  const [first, second, detected] = recordAll<SessionEvent>([started(), rotated('hash-B'), { type: 'RefreshTokenReuseDetected', data: ids }]);
  t.ok(issues(first, 'hash-A'));
  t.ok(issues(second, 'hash-B'));
  t.notOk(issues(second, 'hash-A'), 'a rotation issues its new token, not the one it retires');
  t.notOk(issues(detected, 'hash-B'));
  t.notOk(issues(undefined, 'hash-A'), 'no event there: issued nothing');
});

void t.test('window: the first event and the newest SESSION_WINDOW give the state of the whole stream', async (t) => {
  const window = SessionAggregate.window;
  if (!window) throw new Error('the session aggregate has no window');
  t.equal(window.latest, SESSION_WINDOW);
  const tails: Record<string, SessionEvent[]> = {
    'rotations only': [],
    'revoked last': [revoked('logout')],
    'reuse detected last': [{ type: 'RefreshTokenReuseDetected', data: ids }, revoked('reuse_detected')],
  };
  for (const [name, tail] of Object.entries(tails)) {
    for (const rotations of [0, 1, 5, SESSION_WINDOW - 2, SESSION_WINDOW, SESSION_WINDOW + 1, 200]) {
      const events = recordAll<SessionEvent>([
        at(ago(10_000_000), started()),
        ...Array.from({ length: rotations }, (_, i) => at(ago(10_000_000 - (i + 1) * 1000), rotated(`hash-${i}`, new Date(inADay.getTime() + i)))),
        ...tail,
      ]);
      const whole = events.reduce(evolveSession, initialSession());
      // As a cold load reads it: the first event, then the newest SESSION_WINDOW after it, resumed over the gap.
      const newest = events.slice(1).slice(-SESSION_WINDOW);
      let state = evolveSession(initialSession(), events[0] as (typeof events)[number]);
      let expected = 1n;
      for (const e of newest) {
        state = e.revision > expected ? window.resume(state, e) : evolveSession(state, e);
        expected = e.revision + 1n;
      }
      t.strictSame(state, whole, `${name}, ${rotations} rotations`);
    }
  }
});
