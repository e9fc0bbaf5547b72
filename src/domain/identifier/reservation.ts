/**
 * Identifier reservations: one stream per normalised email or phone, named by its keyed
 * hash. Uniqueness is decided here, with optimistic concurrency on this stream, never by a
 * read model. A claim whose owner never completed (a crash between claim and registration,
 * or a change that moved on) can be taken over once it is stale. A claim read back with no
 * user (`userId: null`) is one whose holder's key was destroyed (a registration that failed
 * and could not release it): stale once the grace period is over, as any unfinished claim.
 */
import { IdentifierTakenError } from '../errors.js';
import type { IdentifierEvent, IdentifierKind, Recorded } from '../events.js';
import type { Aggregate } from '../decider.js';

export type Reservation =
  | { status: 'free' }
  | { status: 'claimed'; userId: string | null; kind: IdentifierKind; claimedAt: Date };

export const initialReservation = (): Reservation => ({ status: 'free' });

export function evolveReservation(state: Reservation, event: Recorded<IdentifierEvent>): Reservation {
  switch (event.type) {
    case 'IdentifierClaimed':
      return { status: 'claimed', userId: event.data.user_id ?? null, kind: event.data.kind, claimedAt: event.occurredAt };
    case 'IdentifierReleased':
      return state.status === 'claimed' && state.userId === (event.data.user_id ?? null) ? { status: 'free' } : state;
  }
}

export interface Claim {
  userId: string;
  kind: IdentifierKind;
  /** The current owner no longer holds this identifier (see commands/identifiers.ts). */
  ownerIsStale: boolean;
}

export function decideClaim(state: Reservation, c: Claim): IdentifierEvent[] {
  if (state.status === 'free') return [{ type: 'IdentifierClaimed', data: { user_id: c.userId, kind: c.kind } }];
  if (state.userId === c.userId) return [];
  if (!c.ownerIsStale) throw new IdentifierTakenError(c.kind);
  const claimed: IdentifierEvent = { type: 'IdentifierClaimed', data: { user_id: c.userId, kind: c.kind } };
  // A holder whose key is gone cannot be named again: the new claim replaces theirs.
  if (state.userId === null) return [claimed];
  return [{ type: 'IdentifierReleased', data: { user_id: state.userId, kind: state.kind } }, claimed];
}

export function decideRelease(state: Reservation, userId: string): IdentifierEvent[] {
  if (state.status !== 'claimed' || state.userId !== userId) return [];
  return [{ type: 'IdentifierReleased', data: { user_id: userId, kind: state.kind } }];
}

/** How long a claim is protected from takeover while its registration is in flight. */
export const CLAIM_GRACE_MS = 60_000;

export const ReservationAggregate: Aggregate<Reservation, IdentifierEvent> = {
  initial: initialReservation,
  evolve: evolveReservation,
};
