/**
 * ChangePassword: checks the current password against the user stream, appends
 * PasswordChanged (which by itself cuts off every older session on refresh), then revokes
 * the user's other sessions so their access tokens stop working at once.
 */
import { InvalidCredentialsError } from '../domain/errors.js';
import { userStream } from '../domain/events.js';
import { checkPasswordPolicy } from '../domain/user/password.js';
import { decideChangePassword, requireExisting } from '../domain/user/user.js';
import type { EventContext } from '../ports/events.js';
import { UserAggregate } from '../domain/user/user.js';
import { handle, later, type CommandDeps } from './handle.js';
import { revokeSessions } from './sessions.js';

export async function changePassword(
  deps: CommandDeps,
  input: { userId: string; sessionId: string | null; currentPassword: string; newPassword: string },
  ctx: EventContext,
): Promise<bigint | null> {
  checkPasswordPolicy(input.newPassword, deps.isCommonPassword);
  let currentOk = false;
  const r = await handle(deps, userStream(input.userId), UserAggregate, async (state) => {
    const user = requireExisting(state);
    currentOk = await deps.hasher.verify(user.passwordHash, input.currentPassword);
    const newPasswordHash = currentOk ? await deps.hasher.hash(input.newPassword) : '';
    return decideChangePassword(state, { currentPasswordOk: currentOk, newPasswordHash, keptSessionId: input.sessionId });
  }, ctx);
  if (!currentOk) throw new InvalidCredentialsError();
  const others = (await deps.sessions.activeSessionIds(input.userId)).filter((id) => id !== input.sessionId);
  const revoked = await revokeSessions(deps, others, 'password_changed', ctx);
  return later(r.position, revoked);
}
