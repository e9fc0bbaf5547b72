/**
 * ChangePassword: checks the current password (under the login throttle of the user's
 * identifiers: a stolen access token cannot guess it faster than a login could), appends
 * PasswordChanged at the revision it was checked against (a concurrent change of the user
 * makes this one a 409, never a change decided on a stale hash), then revokes the user's
 * other sessions so their access tokens stop working at once.
 */
import { userStream } from '../domain/events.js';
import { checkPasswordPolicy } from '../domain/user/password.js';
import { decideChangePassword, requireExisting } from '../domain/user/user.js';
import type { EventContext } from '../ports/events.js';
import { UserAggregate } from '../domain/user/user.js';
import { handle, later, type CommandDeps } from './handle.js';
import { load } from './load.js';
import { checkOwnPassword } from './passwordCheck.js';
import { revokeSessions } from './sessions.js';

export async function changePassword(
  deps: CommandDeps,
  input: { userId: string; sessionId: string | null; currentPassword: string; newPassword: string },
  ctx: EventContext,
): Promise<bigint | null> {
  checkPasswordPolicy(input.newPassword, deps.isCommonPassword);
  const loaded = await load(deps, userStream(input.userId), UserAggregate);
  const user = requireExisting(loaded.state);
  await checkOwnPassword(deps, user, input.currentPassword, 'password_change', ctx);
  const newPasswordHash = await deps.hasher.hash(input.newPassword);
  const r = await handle(deps, userStream(input.userId), UserAggregate,
    (state) => decideChangePassword(state, { currentPasswordOk: true, newPasswordHash, keptSessionId: input.sessionId }),
    ctx, { start: loaded, attempts: 1 });
  const others = (await deps.sessions.activeSessionIds(input.userId)).filter((id) => id !== input.sessionId);
  const revoked = await revokeSessions(deps, others, 'password_changed', ctx);
  return later(r.position, revoked);
}
