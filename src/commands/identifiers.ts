/**
 * Claiming and releasing identifier reservations. A claim held by another user is taken
 * over only when stale: its owner is erased, or no longer holds the identifier (a
 * registration or change that crashed half-way) and the claim is older than the grace
 * period. Everything is decided on the reservation and user streams.
 */
import { IdentifierTakenError } from '../domain/errors.js';
import { identifierStream, userStream, type IdentifierKind } from '../domain/events.js';
import { CLAIM_GRACE_MS, decideClaim, decideRelease, type Reservation } from '../domain/identifier/reservation.js';
import type { EventContext } from '../ports/events.js';
import { ReservationAggregate } from '../domain/identifier/reservation.js';
import { UserAggregate } from '../domain/user/user.js';
import { handle, type CommandDeps } from './handle.js';
import { load, type Loaded } from './load.js';

export interface Identifier {
  kind: IdentifierKind;
  value: string; // normalised
}

export const reservationStreamOf = (deps: Pick<CommandDeps, 'secrets'>, id: Identifier): string =>
  identifierStream(deps.secrets.identifierHash(id.kind, id.value));

/** The user currently holding an identifier, per its reservation stream. */
export async function holderOf(deps: CommandDeps, id: Identifier): Promise<string | null> {
  const { state } = await load(deps, reservationStreamOf(deps, id), ReservationAggregate);
  return state.status === 'claimed' ? state.userId : null;
}

async function ownerIsStale(deps: CommandDeps, id: Identifier, state: Reservation, now: Date): Promise<boolean> {
  if (state.status !== 'claimed') return false;
  const old = now.getTime() - state.claimedAt.getTime() > CLAIM_GRACE_MS;
  if (state.userId === null) return old; // its holder's key is gone: a registration that failed
  const { state: owner } = await load(deps, userStream(state.userId), UserAggregate);
  if (owner.status === 'erased') return true;
  const holds = owner.status !== 'none' && (id.kind === 'email' ? owner.email : owner.phone) === id.value;
  return !holds && old;
}

/** Claims `id` for `userId`; throws IdentifierTakenError when another user holds it. */
/** `first`: the reservation as the caller has just read it (saves a read). */
export async function claimIdentifier(
  deps: CommandDeps, id: Identifier, userId: string, ctx: EventContext, first?: Loaded<Reservation>,
): Promise<bigint | null> {
  try {
    const r = await handle(deps, reservationStreamOf(deps, id), ReservationAggregate, async (state) =>
      decideClaim(state, {
        userId,
        kind: id.kind,
        ownerIsStale: state.status === 'claimed' && state.userId !== userId && (await ownerIsStale(deps, id, state, ctx.now)),
      }), ctx, first ? { start: first } : {});
    return r.position;
  } catch (e) {
    // Lost every retry to concurrent claims: someone else holds it now.
    if (e instanceof Error && (e as { code?: string }).code === 'conflict') throw new IdentifierTakenError(id.kind);
    throw e;
  }
}

export async function releaseIdentifier(deps: CommandDeps, id: Identifier, userId: string, ctx: EventContext): Promise<bigint | null> {
  const r = await handle(deps, reservationStreamOf(deps, id), ReservationAggregate, (state) => decideRelease(state, userId), ctx);
  return r.position;
}

/** Releases claims made earlier in a command that then failed; never throws. */
export async function releaseQuietly(deps: CommandDeps, ids: Identifier[], userId: string, ctx: EventContext): Promise<void> {
  for (const id of ids) {
    try {
      await releaseIdentifier(deps, id, userId, ctx);
    } catch {
      // A claim left behind becomes stale after the grace period and can be taken over.
    }
  }
}
