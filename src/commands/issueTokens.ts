/**
 * IssueTokens (login): every decision is made on event streams — the throttle on the
 * identifier's failed-login stream, the owner on its reservation stream, the password and
 * status on the user stream (read together, in one round trip when the holder is known) —
 * never on a read model that may lag. Unknown identifiers cost the same argon2 work as
 * wrong passwords and get the same answer.
 */
import { AccountDisabledError, InvalidCredentialsError } from '../domain/errors.js';
import { loginsStream, userStream, type LoginFailed, type LoginFailedReason } from '../domain/events.js';
import { checkThrottle } from '../domain/login/throttle.js';
import type { Reservation } from '../domain/identifier/reservation.js';
import type { User } from '../domain/user/user.js';
import type { EventContext } from '../ports/events.js';
import { normaliseEmail, normaliseIdentifier, normalisePhone } from '../policy/identifiers.js';
import { loginFailuresAggregate } from '../domain/login/throttle.js';
import { ReservationAggregate } from '../domain/identifier/reservation.js';
import { UserAggregate } from '../domain/user/user.js';
import { record, type CommandDeps } from './handle.js';
import { load, loadMany } from './load.js';
import { reservationStreamOf, type Identifier } from './identifiers.js';
import { startSession, type IssuedTokens } from './sessions.js';

export type LoginIdentifier = { email: string } | { phone: string } | { identifier: string };

export function toIdentifier(input: LoginIdentifier): Identifier {
  if ('email' in input) return { kind: 'email', value: normaliseEmail(input.email) };
  if ('phone' in input) return { kind: 'phone', value: normalisePhone(input.phone) };
  return normaliseIdentifier(input.identifier);
}

/** The user holding a reservation (null: none, or no state known). */
const holderIn = (reservation: Reservation | undefined): string | null =>
  reservation?.status === 'claimed' ? reservation.userId : null;

/**
 * Reads the streams a login is decided on and checks the throttle: the identifier's recent
 * failures (only the newest `maxFailures`), its reservation, and the holder's user stream.
 * One round trip for all three when this instance knows who holds the identifier (the
 * reservation's cached state): the user stream read along is used if the reservation still
 * names that holder. Otherwise the holder's stream is read after the throttle check.
 */
async function readLoginStreams(deps: CommandDeps, failuresStream: string, reservationStream: string, now: Date): Promise<User> {
  const failures = { streamId: failuresStream, aggregate: loginFailuresAggregate(deps.throttle.maxFailures), latest: deps.throttle.maxFailures };
  const reservation = { streamId: reservationStream, aggregate: ReservationAggregate };
  const knownHolder = holderIn(deps.states?.get(reservationStream)?.state as Reservation | undefined);
  let holder: string | null;
  if (knownHolder !== null) {
    const [recent, claim, user] = await loadMany(deps, failures, reservation, { streamId: userStream(knownHolder), aggregate: UserAggregate });
    checkThrottle(recent.state, deps.throttle, now);
    holder = holderIn(claim.state);
    if (holder === knownHolder) return user.state;
  } else {
    const [recent, claim] = await loadMany(deps, failures, reservation);
    checkThrottle(recent.state, deps.throttle, now);
    holder = holderIn(claim.state);
  }
  return holder === null ? { status: 'none' } : (await load(deps, userStream(holder), UserAggregate)).state;
}

export async function issueTokens(
  deps: CommandDeps,
  input: { identifier: Identifier; password: string },
  ctx: EventContext,
): Promise<IssuedTokens> {
  const { identifier, password } = input;
  const failuresStream = loginsStream(deps.secrets.identifierHash(identifier.kind, identifier.value));
  const user = await readLoginStreams(deps, failuresStream, reservationStreamOf(deps, identifier), ctx.now);
  const known = user.status === 'active' || user.status === 'disabled';
  const holds = known && (identifier.kind === 'email' ? user.email : user.phone) === identifier.value;

  const fail = async (userId: string | null, reason: LoginFailedReason): Promise<void> => {
    const event: LoginFailed = { type: 'LoginFailed', data: { user_id: userId, kind: identifier.kind, reason } };
    await record(deps, failuresStream, [event], { ...ctx, actorId: null });
  };

  if (!known || !holds) {
    await deps.hasher.verify(null, password);
    await fail(null, 'unknown_identifier');
    throw new InvalidCredentialsError();
  }
  if (!(await deps.hasher.verify(user.passwordHash, password))) {
    await fail(user.id, 'wrong_password');
    throw new InvalidCredentialsError();
  }
  if (user.status === 'disabled') {
    await fail(user.id, 'account_disabled');
    throw new AccountDisabledError();
  }
  return startSession(deps, user, { ...ctx, actorId: user.id });
}
