/** The aggregates commands fold, bound to their event types. */
import type { IdentifierEvent, LoginEvent, SessionEvent, SettingsChanged, UserEvent } from './events.js';
import { evolveReservation, initialReservation, type Reservation } from './identifier/reservation.js';
import { evolveSession, initialSession, type Session } from './session/session.js';
import { evolveSettings, type Settings } from './settings/settings.js';
import { evolveUser, initialUser, type User } from './user/user.js';
import type { SettingsValues } from './events.js';
import type { Aggregate } from './decider.js';

export const UserAggregate: Aggregate<User, UserEvent> = { initial: initialUser, evolve: evolveUser };
/** A session's cached state weighs one more for every 20 retired token hashes (~46 bytes each). */
export const SessionAggregate: Aggregate<Session, SessionEvent> = {
  initial: initialSession,
  evolve: evolveSession,
  weigh: (state) => (state.status === 'none' ? 1 : 1 + Math.floor(state.previousHashes.size / 20)),
};
export const ReservationAggregate: Aggregate<Reservation, IdentifierEvent> = {
  initial: initialReservation,
  evolve: evolveReservation,
};

export const settingsAggregate = (defaults: SettingsValues): Aggregate<Settings, SettingsChanged> => ({
  initial: () => ({ ...defaults, revision: null }),
  evolve: evolveSettings,
});

/**
 * Failed logins: only the times of the newest `keep` matter for throttling (the policy's
 * maxFailures), so the state never grows past them however long the stream gets.
 */
export const loginFailuresAggregate = (keep: number): Aggregate<readonly Date[], LoginEvent> => ({
  initial: () => [],
  evolve: (times, e) => [...times.slice(Math.max(0, times.length + 1 - keep)), e.occurredAt],
});
