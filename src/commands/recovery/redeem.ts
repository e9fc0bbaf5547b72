/**
 * Redeeming a token or code against the user stream: the check and its outcome are one
 * append at the revision checked, so of many simultaneous attempts each is counted against
 * the request's attempt limit (domain/user/recovery.ts): 50 parallel wrong codes check at
 * most MAX_CODE_FAILURES. A wrong one appends VerificationFailed and answers invalid_code.
 */
import { InvalidCodeError, RateLimitedError } from '../../domain/errors.js';
import { userStream, type UserEvent } from '../../domain/events.js';
import { isFailure, type Pending } from '../../domain/user/recovery.js';
import { UserAggregate, type User } from '../../domain/user/user.js';
import type { EventContext } from '../../ports/events.js';
import { handle, type CommandDeps, type Handled } from '../handle.js';

/** Enough rounds for a crowd of attempts on one request to be decided one after another. */
const REDEEM_ATTEMPTS = 12;

/** Whether `presented` is the token or code of `pending` (keyed hash, timing-safe). */
export const matcher = (deps: Pick<CommandDeps, 'secrets'>, presented: string) => (pending: Pending): boolean =>
  deps.secrets.sameHash(pending.tokenHash, deps.secrets.tokenHash(pending.requestId, presented));

export async function redeem(
  deps: CommandDeps, userId: string, decide: (state: User) => UserEvent[] | Promise<UserEvent[]>, ctx: EventContext,
): Promise<Handled<User, UserEvent>> {
  const r = await handle(deps, userStream(userId), UserAggregate, decide, ctx, {
    attempts: REDEEM_ATTEMPTS, exhausted: () => new RateLimitedError(1, 'too many simultaneous attempts; try again'),
  });
  if (isFailure(r.events)) throw new InvalidCodeError();
  return r;
}
