/**
 * Issuing reset and verification requests: a fresh request id, the keyed hash of the token
 * or code the messages reactor will derive from it (infra/secrets.ts), and its expiry. The
 * token itself is never kept: the reactor writes it again from the event.
 */
import { ConflictError } from '../../domain/errors.js';
import { userStream, type MessagePurpose, type ResetChannel } from '../../domain/events.js';
import { CODE_TTL_SECONDS, decideRequestReset, type Issue } from '../../domain/user/recovery.js';
import { UserAggregate, requireExisting } from '../../domain/user/user.js';
import type { EventContext } from '../../ports/events.js';
import { handle, type CommandDeps } from '../handle.js';

/** A request of `purpose` for `userId`: links for email, 6-digit codes for SMS. */
export function newIssue(
  deps: Pick<CommandDeps, 'secrets' | 'recovery'>, purpose: MessagePurpose, channel: ResetChannel, userId: string, requestId: string, now: Date,
): Issue {
  const token = channel === 'email' ? deps.secrets.linkToken(purpose, userId, requestId) : deps.secrets.code(purpose, userId, requestId);
  const ttl = channel === 'phone' ? CODE_TTL_SECONDS
    : purpose === 'password_reset' ? deps.recovery.resetTtlSeconds : deps.recovery.emailVerifyTtlSeconds;
  return { requestId, tokenHash: deps.secrets.tokenHash(requestId, token), expiresAt: new Date(now.getTime() + ttl * 1000) };
}

/**
 * A password reset for a user: by email when they have one (or `channel` says so), else by
 * SMS. `requestId` makes it idempotent (the recovery reactor passes one derived from the
 * ask). Nothing for a user who is not active (unless `strict`). Returns the position appended.
 */
export async function issuePasswordReset(
  deps: CommandDeps,
  input: { userId: string; requestId: string; channel?: ResetChannel; /** an admin asks: 404/409 rather than nothing */ strict?: boolean },
  ctx: EventContext,
): Promise<bigint | null> {
  const r = await handle(deps, userStream(input.userId), UserAggregate, (state) => {
    if (input.strict) requireExisting(state);
    if (state.status === 'disabled' && input.strict) throw new ConflictError('the user is disabled');
    if (state.status !== 'active') return [];
    const channel = input.channel ?? (state.email !== null ? 'email' : 'phone');
    return decideRequestReset(state, { ...newIssue(deps, 'password_reset', channel, state.id, input.requestId, ctx.now), channel });
  }, ctx);
  return r.position;
}
