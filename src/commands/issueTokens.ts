/**
 * IssueTokens (login): every decision is made on event streams — the throttle on the
 * identifier's failed-login stream, the owner on its reservation stream, the password and
 * status on the user stream (read together, in one round trip when the holder is known) —
 * never on a read model that may lag. Unknown identifiers cost the same argon2 work as
 * wrong passwords and get the same answer.
 */
import { AccountDisabledError, IdentifierUnverifiedError, InvalidCredentialsError } from '../domain/errors.js';
import { mfaStream, userStream } from '../domain/events.js';
import { checkThrottle, type ThrottleState } from '../domain/login/throttle.js';
import type { Reservation } from '../domain/identifier/reservation.js';
import type { User } from '../domain/user/user.js';
import type { EventContext } from '../ports/events.js';
import { normaliseEmail, normaliseIdentifier, normalisePhone, type CountryCode } from '../policy/identifiers.js';
import { ReservationAggregate } from '../domain/identifier/reservation.js';
import { UserAggregate } from '../domain/user/user.js';
import type { CommandDeps } from './handle.js';
import { loadMany, type Loaded } from './load.js';
import { reserveCheck, settleFailed, settleSucceeded, throttleLoad, throttleTarget, type ThrottleTarget } from './passwordCheck.js';
import { reservationStreamOf, type Identifier } from './identifiers.js';
import { startSession, type IssuedTokens } from './sessions.js';
import { upgradePassword } from './upgradePassword.js';
import { hasFactors, type MfaState } from '../domain/mfa/state.js';
import { mfaOf } from './mfa/verify.js';
import { issueChallenge, type MfaRequired } from './mfa/signIn.js';

export type LoginIdentifier = { email: string } | { phone: string } | { identifier: string };

export function toIdentifier(input: LoginIdentifier, region?: CountryCode): Identifier {
  if ('email' in input) return { kind: 'email', value: normaliseEmail(input.email) };
  if ('phone' in input) return { kind: 'phone', value: normalisePhone(input.phone, '/phone', region) };
  return normaliseIdentifier(input.identifier, '/identifier', region);
}

/** The user holding a reservation (null: none, or no state known). */
const holderIn = (reservation: Reservation | undefined): string | null =>
  reservation?.status === 'claimed' ? reservation.userId : null;

/**
 * Reads the streams a login is decided on and checks the throttle: the identifier's newest
 * password checks, its reservation, and the holder's user and second-factor streams. One
 * round trip for all four when this instance knows who holds the identifier (the
 * reservation's cached state): the holder's streams read along are used if the reservation
 * still names that holder. Otherwise they are read after the throttle check.
 */
async function readLoginStreams(
  deps: CommandDeps, target: ThrottleTarget, reservationStream: string, now: Date,
): Promise<{ user: User; mfa: Loaded<MfaState> | null; throttle: Loaded<ThrottleState> }> {
  const checks = throttleLoad(deps, target);
  const reservation = { streamId: reservationStream, aggregate: ReservationAggregate };
  const knownHolder = holderIn(deps.states?.get(reservationStream)?.state as Reservation | undefined);
  let holder: string | null;
  let throttle: Loaded<ThrottleState>;
  if (knownHolder !== null) {
    const [recent, claim, user, mfa] = await loadMany(deps, checks, reservation,
      { streamId: userStream(knownHolder), aggregate: UserAggregate }, { streamId: mfaStream(knownHolder), aggregate: mfaOf(deps) });
    checkThrottle(recent.state, deps.throttle, now);
    holder = holderIn(claim.state);
    if (holder === knownHolder) return { user: user.state, mfa, throttle: recent };
    throttle = recent;
  } else {
    const [recent, claim] = await loadMany(deps, checks, reservation);
    checkThrottle(recent.state, deps.throttle, now);
    holder = holderIn(claim.state);
    throttle = recent;
  }
  if (holder === null) return { user: { status: 'none' }, mfa: null, throttle };
  const [user, mfa] = await loadMany(deps,
    { streamId: userStream(holder), aggregate: UserAggregate }, { streamId: mfaStream(holder), aggregate: mfaOf(deps) });
  return { user: user.state, mfa, throttle };
}

export async function issueTokens(
  deps: CommandDeps,
  input: { identifier: Identifier; password: string; via?: 'login' | 'oauth' },
  ctx: EventContext,
): Promise<IssuedTokens | MfaRequired> {
  const { identifier, password } = input;
  const target = throttleTarget(deps, identifier);
  const { user, mfa, throttle } = await readLoginStreams(deps, target, reservationStreamOf(deps, identifier), ctx.now);
  const known = user.status === 'active' || user.status === 'disabled';
  const holds = known && (identifier.kind === 'email' ? user.email : user.phone) === identifier.value;
  // The check takes its place in the throttle before any hashing: parallel guesses cannot pass it.
  const attemptId = await reserveCheck(deps, { target, via: input.via ?? 'login', userId: holds ? user.id : null }, ctx, throttle);

  if (!known || !holds) {
    await deps.hasher.verify(null, password);
    await settleFailed(deps, target, attemptId, null, 'unknown_identifier', ctx);
    throw new InvalidCredentialsError();
  }
  if (!(await deps.hasher.verify(user.passwordHash, password))) {
    await settleFailed(deps, target, attemptId, user.id, 'wrong_password', ctx);
    throw new InvalidCredentialsError();
  }
  // An imported (or older) hash is replaced by ours while the answer is being prepared.
  const upgraded = upgradePassword(deps, user, password, ctx);
  if (user.status === 'disabled') {
    await Promise.all([settleFailed(deps, target, attemptId, user.id, 'account_disabled', ctx), upgraded]);
    throw new AccountDisabledError();
  }
  if (deps.recovery.requireVerifiedIdentifier && !(identifier.kind === 'email' ? user.emailVerified : user.phoneVerified)) {
    // The password was right: the check settles as a success, but no session starts.
    await Promise.all([settleSucceeded(deps, target, attemptId, user.id, ctx), upgraded]);
    throw new IdentifierUnverifiedError(identifier.kind);
  }
  if (mfa && hasFactors(mfa.state)) {
    // The password was right; a second factor is due before any session starts.
    const [required] = await Promise.all([
      issueChallenge(deps, user, mfa, input.via ?? 'login', ctx),
      settleSucceeded(deps, target, attemptId, user.id, ctx),
      upgraded,
    ]);
    return required;
  }
  const [issued] = await Promise.all([
    startSession(deps, user, { ...ctx, actorId: user.id }),
    settleSucceeded(deps, target, attemptId, user.id, ctx),
    upgraded,
  ]);
  // Roles that need a second factor were held back: the user has none, and is asked to enrol one.
  return issued.withheldRoles.length > 0 ? { ...issued, mfaEnrolmentRequired: true } : issued;
}
