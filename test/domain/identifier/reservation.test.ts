import t from 'tap';
import type { IdentifierEvent } from '../../../src/domain/events.js';
import {
  CLAIM_GRACE_MS, decideClaim, decideRelease, evolveReservation, initialReservation, type Reservation,
} from '../../../src/domain/identifier/reservation.js';
import { ago, at, given, type Evolving } from '../../helpers/spec.js';

const Reservation: Evolving<Reservation, IdentifierEvent> = { initial: initialReservation, evolve: evolveReservation };
const A = 'aaaaaaaa-0000-4000-8000-000000000001';
const B = 'bbbbbbbb-0000-4000-8000-000000000002';
const claimed = (userId: string, kind: 'email' | 'phone' = 'email'): IdentifierEvent =>
  ({ type: 'IdentifierClaimed', data: { user_id: userId, kind } });
const released = (userId: string, kind: 'email' | 'phone' = 'email'): IdentifierEvent =>
  ({ type: 'IdentifierReleased', data: { user_id: userId, kind } });

void t.test('claim', async (t) => {
  given(t, Reservation, []).when((s) => decideClaim(s, { userId: A, kind: 'email', ownerIsStale: false }))
    .then([claimed(A)], 'a free identifier');
  given(t, Reservation, [claimed(B), released(B)]).when((s) => decideClaim(s, { userId: A, kind: 'email', ownerIsStale: false }))
    .then([claimed(A)], 'a released identifier is free again');
  given(t, Reservation, [claimed(A)]).when((s) => decideClaim(s, { userId: A, kind: 'email', ownerIsStale: false }))
    .then([], 'claiming one\'s own claim is a no-op');
  given(t, Reservation, [claimed(B)]).when((s) => decideClaim(s, { userId: A, kind: 'email', ownerIsStale: false }))
    .thenThrows({ code: 'identifier_taken', kind: 'email' });
  given(t, Reservation, [claimed(B, 'phone')]).when((s) => decideClaim(s, { userId: A, kind: 'phone', ownerIsStale: false }))
    .thenThrows({ code: 'identifier_taken', kind: 'phone' });
  const w = given(t, Reservation, [claimed(B)]).when((s) => decideClaim(s, { userId: A, kind: 'email', ownerIsStale: true }));
  w.then([released(B), claimed(A)], 'a stale claim is released, then taken over');
  t.match(w.stateAfter, { status: 'claimed', userId: A });
});

void t.test('release', async (t) => {
  const w = given(t, Reservation, [claimed(A)]).when((s) => decideRelease(s, A));
  w.then([released(A)]);
  t.strictSame(w.stateAfter, { status: 'free' });
  given(t, Reservation, [claimed(B)]).when((s) => decideRelease(s, A)).then([], 'only the holder releases');
  given(t, Reservation, []).when((s) => decideRelease(s, A)).then([], 'releasing a free identifier');
  given(t, Reservation, [claimed(A), released(A)]).when((s) => decideRelease(s, A)).then([], 'releasing twice');
  given(t, Reservation, [claimed(A, 'phone')]).when((s) => decideRelease(s, A)).then([released(A, 'phone')], 'keeps the kind');
});

void t.test('evolve', async (t) => {
  const when = ago(CLAIM_GRACE_MS * 2);
  t.strictSame(given(t, Reservation, [at(when, claimed(A, 'phone'))]).state,
    { status: 'claimed', userId: A, kind: 'phone', claimedAt: when }, 'claimedAt is the time of the claim');
  t.match(given(t, Reservation, [claimed(A), released(B)]).state, { status: 'claimed', userId: A },
    'a release by someone else frees nothing');
  const takeover = given(t, Reservation, [at(ago(120_000), claimed(B)), at(ago(1000), released(B)), at(ago(1000), claimed(A))]).state;
  t.match(takeover, { status: 'claimed', userId: A, claimedAt: ago(1000) });
  t.equal(CLAIM_GRACE_MS, 60_000);
});
