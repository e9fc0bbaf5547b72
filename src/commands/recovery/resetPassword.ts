/**
 * ResetPassword: a token from the emailed link, or a phone number and the SMS code, and a
 * new password. The new password is hashed only once the token matched; the reset and the
 * check are one append. Afterwards every session of the user is revoked, and the cut-off
 * (PasswordReset is one) refuses every earlier access token on every instance.
 */
import { InvalidCodeError } from '../../domain/errors.js';
import { checkPasswordPolicy } from '../../domain/user/password.js';
import { decideResetPassword } from '../../domain/user/recovery.js';
import type { EventContext } from '../../ports/events.js';
import { normalisePhone } from '../../policy/identifiers.js';
import { later, type CommandDeps } from '../handle.js';
import { holderOf } from '../identifiers.js';
import { revokeSessions } from '../sessions.js';
import { matcher, redeem } from './redeem.js';

export type ResetProof = { token: string } | { phone: string; code: string };

export async function resetPassword(deps: CommandDeps, proof: ResetProof, newPassword: string, ctx: EventContext): Promise<bigint | null> {
  checkPasswordPolicy(newPassword, deps.isCommonPassword);
  let userId: string | null;
  let presented: string;
  if ('token' in proof) {
    userId = deps.secrets.parseLinkToken(proof.token)?.userId ?? null;
    presented = proof.token;
  } else {
    if (!/^\d{6}$/.test(proof.code)) throw new InvalidCodeError();
    userId = await holderOf(deps, { kind: 'phone', value: normalisePhone(proof.phone, '/phone', deps.phoneRegion) });
    presented = proof.code;
  }
  if (userId === null) throw new InvalidCodeError();
  let newPasswordHash: string | undefined;
  const r = await redeem(deps, userId, async (state) => {
    const matches = matcher(deps, presented);
    const channel = 'token' in proof ? 'email' as const : 'phone' as const;
    const events = decideResetPassword(state, { now: ctx.now, matches, channel, newPasswordHash: '' });
    if (events[0]?.type !== 'PasswordReset') return events;
    newPasswordHash ??= await deps.hasher.hash(newPassword);
    return decideResetPassword(state, { now: ctx.now, matches, channel, newPasswordHash });
  }, { ...ctx, actorId: userId });
  const sessions = await deps.sessions.activeSessionIds(userId);
  return later(r.position, await revokeSessions(deps, sessions, 'password_reset', ctx));
}
