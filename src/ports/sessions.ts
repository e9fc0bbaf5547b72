/**
 * What commands learn from, and tell, the rest of the instance about sessions and users:
 * a directory of a user's sessions (the sessions read model, caught up by the caller) and
 * a listener told at once of what this instance's commands did, before the event
 * subscription tells every instance (in-memory revocations, cached data keys).
 */
import type { DomainEvent, Recorded } from '../domain/events.js';

export interface SessionDirectory {
  /** Ids of the user's sessions neither revoked nor expired. */
  activeSessionIds(userId: string): Promise<string[]>;
}

export interface CommandListener {
  sessionsRevoked(sessionIds: string[]): void;
  userErased(userId: string): void;
  /** Every event this instance's commands appended, as recorded (optional). */
  appended?(events: readonly Recorded<DomainEvent>[]): void;
}
