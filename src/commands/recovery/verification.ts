/**
 * Email and phone verification: asking for a new link or code (the signed-in user), and
 * redeeming one. Redeeming is decided on the user stream like a reset (redeem.ts).
 */
import { InvalidCodeError } from '../../domain/errors.js';
import { userStream, type ResetChannel } from '../../domain/events.js';
import { decideRequestVerification, decideVerify } from '../../domain/user/recovery.js';
import { UserAggregate, requireExisting } from '../../domain/user/user.js';
import type { EventContext } from '../../ports/events.js';
import { handle, type CommandDeps } from '../handle.js';
import { newIssue } from './issue.js';
import { matcher, redeem } from './redeem.js';

/** A new verification link (email) or code (phone); 409 when there is none or it is verified. */
export async function requestVerification(deps: CommandDeps, userId: string, kind: ResetChannel, ctx: EventContext): Promise<bigint | null> {
  const purpose = kind === 'email' ? 'email_verification' : 'phone_verification';
  const r = await handle(deps, userStream(userId), UserAggregate, (state) => {
    const user = requireExisting(state);
    return decideRequestVerification(user, kind, newIssue(deps, purpose, kind, user.id, deps.newId(), ctx.now));
  }, ctx);
  return r.position;
}

/** The link's token: it names its user. */
export async function verifyEmail(deps: CommandDeps, token: string, ctx: EventContext): Promise<bigint | null> {
  const userId = deps.secrets.parseLinkToken(token)?.userId;
  if (!userId) throw new InvalidCodeError();
  const r = await redeem(deps, userId, (state) => decideVerify(state, 'email', { now: ctx.now, matches: matcher(deps, token) }),
    { ...ctx, actorId: userId });
  return r.position;
}

export async function verifyPhone(deps: CommandDeps, userId: string, code: string, ctx: EventContext): Promise<bigint | null> {
  if (!/^\d{6}$/.test(code)) throw new InvalidCodeError();
  const r = await redeem(deps, userId, (state) => decideVerify(state, 'phone', { now: ctx.now, matches: matcher(deps, code) }), ctx);
  return r.position;
}
