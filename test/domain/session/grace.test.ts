/**
 * Lost races and the reuse grace, decided from the session's events alone: examples, then
 * properties over arbitrary rotation histories (fast-check).
 */
import fc from 'fast-check';
import t from 'tap';
import { DomainError } from '../../../src/domain/errors.js';
import type { SessionEvent } from '../../../src/domain/events.js';
import { TIMED_RETIREMENTS, decideRotate, evolveSession, initialSession, type RotateRefresh, type Session } from '../../../src/domain/session/session.js';
import { SPEC_NOW, at, fold, given, recordAll, type Evolving } from '../../helpers/spec.js';

const Session: Evolving<Session, SessionEvent> = { initial: initialSession, evolve: evolveSession };
const ids = { session_id: '5e55100e-2222-4aaa-8bbb-000000000001', user_id: '7f9c2f0e-1111-4aaa-8bbb-000000000001' };
const FAR = new Date(SPEC_NOW.getTime() + 86_400_000);
const started: SessionEvent = {
  type: 'SessionStarted', data: { ...ids, refresh_token_hash: 'h0', expires_at: FAR.toISOString(), user_revision: '0' },
};
const rotated = (hash: string): SessionEvent => ({
  type: 'RefreshTokenRotated', data: { ...ids, refresh_token_hash: hash, expires_at: FAR.toISOString() },
});
const later = (ms: number): Date => new Date(SPEC_NOW.getTime() + ms);
const REUSE: SessionEvent[] = [
  { type: 'RefreshTokenReuseDetected', data: ids },
  { type: 'SessionRevoked', data: { ...ids, reason: 'reuse_detected' } },
];
const graceRotation: SessionEvent = {
  type: 'RefreshTokenRotated', data: { ...ids, refresh_token_hash: 'NEW', expires_at: FAR.toISOString(), within_grace: true },
};
const command = (presentedHash: string, over: Partial<RotateRefresh> = {}): RotateRefresh => ({
  presentedHash, newHash: 'NEW', newExpiresAt: FAR, now: SPEC_NOW, userAllows: true, graceSeconds: 0, ...over,
});

void t.test('a request that saw the token current before losing is a lost race, however late it decides', async (t) => {
  const history = [started, at(SPEC_NOW, rotated('h1'))];
  given(t, Session, history).when((s) => decideRotate(s, command('h0', { now: later(60_000), sawCurrent: true })))
    .thenThrows({ code: 'invalid_token' }, 'invalid_token, session intact');
  given(t, Session, history).when((s) => decideRotate(s, command('h0', { now: later(60_000), sawCurrent: false })))
    .then(REUSE, 'the same token read already retired, a minute later: reuse');
});

void t.test('the reuse grace: a fresh pair of the same session within it, reuse after it', async (t) => {
  const history = [started, at(SPEC_NOW, rotated('h1'))];
  given(t, Session, history).when((s) => decideRotate(s, command('h0', { now: later(5_000), graceSeconds: 5 })))
    .then([graceRotation], 'exactly at the end of the window: still within');
  given(t, Session, history).when((s) => decideRotate(s, command('h0', { now: later(5_001), graceSeconds: 5 })))
    .then(REUSE, 'one millisecond after it: reuse');
  given(t, Session, history).when((s) => decideRotate(s, command('h0', { now: later(1), graceSeconds: 0 })))
    .then(REUSE, 'grace 0: reuse at once');
  given(t, Session, history).when((s) => decideRotate(s, command('h0', { now: later(1_000), graceSeconds: 5, userAllows: false })))
    .thenThrows({ code: 'invalid_token' }, 'within the grace but the user no longer allows the session');
  given(t, Session, [started, at(SPEC_NOW, rotated('h1')), at(later(1_000), rotated('h2'))])
    .when((s) => decideRotate(s, command('h0', { now: later(3_000), graceSeconds: 5 })))
    .then([graceRotation], 'an older retired token within its own window (two tabs, three presenters)');
  given(t, Session, [started, at(SPEC_NOW, rotated('h1')), { type: 'SessionRevoked', data: { ...ids, reason: 'logout' } }])
    .when((s) => decideRotate(s, command('h0', { now: later(1_000), graceSeconds: 5 })))
    .thenThrows({ code: 'invalid_token' }, 'a revoked session grants nothing');
  const w = given(t, Session, history).when((s) => decideRotate(s, command('h0', { now: later(1_000), graceSeconds: 5 })));
  t.match(w.stateAfter, { status: 'active', currentHash: 'NEW' }, 'the grace rotation makes the new token current');
});

// --- properties -------------------------------------------------------------------------

/** A session rotated `gaps.length` times, the i-th rotation `gaps[i]` ms after the one before. */
function history(gaps: readonly number[]): { state: Session; times: number[] } {
  let time = SPEC_NOW.getTime();
  const times: number[] = [];
  const events = [at(new Date(time - 1), started), ...gaps.map((gap, i) => {
    time += gap;
    times.push(time);
    return at(new Date(time), rotated(`h${i + 1}`));
  })];
  return { state: fold(Session, recordAll(events)), times };
}

const outcome = (state: Session, c: RotateRefresh): 'rotated' | 'grace' | 'reuse' | 'invalid' => {
  try {
    const events = decideRotate(state, c);
    if (events[0]?.type === 'RefreshTokenReuseDetected') return 'reuse';
    return events[0]?.type === 'RefreshTokenRotated' && events[0].data.within_grace ? 'grace' : 'rotated';
  } catch (e) {
    if (e instanceof DomainError && e.code === 'invalid_token') return 'invalid';
    throw e;
  }
};

const arbitraryCase = fc.record({
  gaps: fc.array(fc.integer({ min: 0, max: 30_000 }), { minLength: 1, maxLength: TIMED_RETIREMENTS }),
  pick: fc.nat(),
  delay: fc.integer({ min: -5_000, max: 120_000 }),
  grace: fc.integer({ min: 0, max: 60 }),
  sawCurrent: fc.boolean(),
});

void t.test('property: the current token always rotates, never as grace', async (t) => {
  fc.assert(fc.property(arbitraryCase, ({ gaps, delay, grace, sawCurrent }) => {
    const { state, times } = history(gaps);
    const now = new Date((times.at(-1) as number) + Math.max(0, delay));
    return outcome(state, command(`h${gaps.length}`, { now, graceSeconds: grace, sawCurrent })) === 'rotated';
  }));
  t.pass('held for every generated history');
});

void t.test('property: a retired token is a fresh pair within its grace, a lost race before its rotation, reuse otherwise', async (t) => {
  fc.assert(fc.property(arbitraryCase, ({ gaps, pick, delay, grace, sawCurrent }) => {
    const { state, times } = history(gaps);
    const index = pick % gaps.length; // token h<index> was retired by rotation index (at times[index])
    const retiredAt = times[index] as number;
    const now = retiredAt + delay;
    const got = outcome(state, command(`h${index}`, { now: new Date(now), graceSeconds: grace, sawCurrent }));
    const sinceRetired = now - retiredAt;
    if (grace > 0 && sinceRetired <= grace * 1000) return got === 'grace';
    if (sawCurrent || sinceRetired <= 0) return got === 'invalid';
    return got === 'reuse';
  }));
  t.pass('held for every generated history');
});

void t.test('property: only a reuse revokes, and a reuse always does', async (t) => {
  fc.assert(fc.property(arbitraryCase, ({ gaps, pick, delay, grace, sawCurrent }) => {
    const { state, times } = history(gaps);
    const index = pick % (gaps.length + 1); // the current token included
    const now = new Date((times[Math.min(index, gaps.length - 1)] as number) + delay);
    let events: SessionEvent[];
    try {
      events = decideRotate(state, command(`h${index}`, { now, graceSeconds: grace, sawCurrent }));
    } catch {
      return true; // nothing written: the session is as it was
    }
    const reuse = events.some((e) => e.type === 'RefreshTokenReuseDetected');
    return reuse === events.some((e) => e.type === 'SessionRevoked');
  }));
  t.pass('held for every generated history');
});
