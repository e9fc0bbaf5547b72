/**
 * ImportUser: one prepared record (record.ts) becomes a user. The user id is derived from
 * the source and the source's id (a keyed hash), so a second import of the same user finds
 * its stream and appends nothing; an erased user stays erased. The identifiers are claimed
 * on their reservation streams as registration claims them: an import never makes a second
 * account for an email or phone, and a claim left by an interrupted import is this same
 * user's, taken up again by the next run. Everything is decided on the streams, read
 * first (for a whole chunk of records at once: run.ts), so a duplicate or a taken
 * identifier costs no write.
 */
import { IdentifierTakenError } from '../../domain/errors.js';
import { userStream, type DomainEvent, type IdentifierEvent, type IdentifierKind } from '../../domain/events.js';
import { randomUUID } from 'node:crypto';
import { decideClaim, ReservationAggregate, type Reservation } from '../../domain/identifier/reservation.js';
import { decideImport, UserAggregate, type User } from '../../domain/user/user.js';
import type { StreamAppend } from '../../ports/eventStore.js';
import type { EventContext } from '../../ports/events.js';
import { handle, type CommandDeps } from '../handle.js';
import { claimIdentifier, releaseQuietly, reservationStreamOf, type Identifier } from '../identifiers.js';
import type { Loaded, StreamLoad } from '../load.js';
import type { Prepared, Refusal } from './record.js';

export type ImportOutcome =
  | { outcome: 'imported'; userId: string; position: bigint | null }
  | { outcome: 'duplicate'; userId: string }
  | ({ outcome: 'refused' } & Refusal);

/** The user id an imported user gets: the same for the same source and source id, on every run. */
export const importedUserId = (deps: Pick<CommandDeps, 'secrets'>, source: string, sourceId: string): string =>
  deps.secrets.derivedId(`import\u0000${source}\u0000${sourceId}`);

/** The streams an import is decided on: the user's, then each identifier's reservation. */
export function importLoads(deps: CommandDeps, userId: string, prepared: Prepared): StreamLoad<User | Reservation, DomainEvent>[] {
  const reservations: StreamLoad<Reservation, IdentifierEvent>[] = prepared.identifiers.map((id) =>
    ({ streamId: reservationStreamOf(deps, id), aggregate: ReservationAggregate }));
  return [{ streamId: userStream(userId), aggregate: UserAggregate }, ...reservations] as unknown as StreamLoad<User | Reservation, DomainEvent>[];
}

export interface ImportRead {
  user: Loaded<User>;
  claims: Loaded<Reservation>[];
}

const taken = (kind: IdentifierKind): Refusal =>
  ({ reason: kind === 'email' ? 'email_taken' : 'phone_taken', detail: `another user holds this ${kind}` });

/** What the streams as read say, before any write: null when the user is to be imported. */
export function precheck(userId: string, prepared: Prepared, read: ImportRead): ImportOutcome | null {
  if (read.user.state.status !== 'none') return { outcome: 'duplicate', userId };
  for (const [i, id] of prepared.identifiers.entries()) {
    const claim = read.claims[i]?.state;
    if (claim?.status === 'claimed' && claim.userId !== userId) return { outcome: 'refused', ...taken(id.kind) };
  }
  return null;
}

/**
 * What importing a user that `precheck` let through appends, as decided on the streams as
 * `read`: the claims (none for an identifier this user already holds), then UserImported.
 * For a batch of users in one commit (run.ts); a conflict sends each of them to importUser.
 */
export async function importAppends(
  deps: CommandDeps, userId: string, prepared: Prepared, read: ImportRead, ctx: EventContext,
): Promise<{ claims: StreamAppend[]; user: StreamAppend }> {
  const claims: StreamAppend[] = [];
  for (const [i, id] of prepared.identifiers.entries()) {
    const claim = read.claims[i];
    const events = decideClaim(claim?.state ?? { status: 'free' }, { userId, kind: id.kind, ownerIsStale: false });
    if (events.length === 0) continue;
    claims.push({
      streamId: reservationStreamOf(deps, id),
      events: await Promise.all(events.map((e) => deps.codec.encode(e, ctx, randomUUID()))),
      expectedRevision: claim?.revision ?? 'no_stream',
    });
  }
  const imported = decideImport(read.user.state, { user_id: userId, ...prepared.data });
  return {
    claims,
    user: {
      streamId: userStream(userId),
      events: await Promise.all(imported.map((e) => deps.codec.encode(e, ctx, randomUUID()))),
      expectedRevision: read.user.revision ?? 'no_stream',
    },
  };
}

/**
 * Imports a user that `precheck` let through, on the streams as `read` (the user's data key
 * already created: keys.createMany for a chunk). Claims first, then UserImported.
 */
export async function importUser(
  deps: CommandDeps, userId: string, prepared: Prepared, read: ImportRead, ctx: EventContext,
): Promise<ImportOutcome> {
  const claimed: Identifier[] = [];
  try {
    for (const [i, id] of prepared.identifiers.entries()) {
      await claimIdentifier(deps, id, userId, ctx, read.claims[i]);
      claimed.push(id);
    }
  } catch (e) {
    if (!(e instanceof IdentifierTakenError)) throw e;
    await releaseQuietly(deps, claimed, userId, ctx);
    return { outcome: 'refused', ...taken(e.kind) };
  }
  try {
    const r = await handle(deps, userStream(userId), UserAggregate,
      (state) => decideImport(state, { user_id: userId, ...prepared.data }), ctx, { start: read.user, attempts: 1 });
    return r.events.length === 0 ? { outcome: 'duplicate', userId } : { outcome: 'imported', userId, position: r.position };
  } catch (e) {
    // Another run imported the same user a moment earlier (its claims are this user's too).
    if ((e as { code?: string }).code === 'conflict') return { outcome: 'duplicate', userId };
    throw e;
  }
}
