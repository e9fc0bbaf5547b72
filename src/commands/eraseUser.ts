/**
 * EraseUser (crypto-shredding): release the user's identifiers, revoke their sessions,
 * append UserErased, then destroy the user's data key, after which no personal field of
 * theirs can be read from any event. Idempotent: erasing an erased user finishes any step
 * a crash left undone.
 */
import { InvalidCredentialsError, NotFoundError } from '../domain/errors.js';
import { userStream } from '../domain/events.js';
import { decideErase } from '../domain/user/user.js';
import type { EventContext } from '../ports/events.js';
import { UserAggregate } from '../domain/user/user.js';
import { handle, later, type CommandDeps } from './handle.js';
import { load } from './load.js';
import { releaseIdentifier } from './identifiers.js';
import { checkOwnPassword } from './passwordCheck.js';
import { revokeSessions } from './sessions.js';

/** `password`: required for self-service erasure; null when an admin erases. */
export async function eraseUser(
  deps: CommandDeps,
  input: { userId: string; password: string | null },
  ctx: EventContext,
): Promise<bigint | null> {
  const { state: current } = await load(deps, userStream(input.userId), UserAggregate);
  if (current.status === 'none') throw new NotFoundError('user');
  if (input.password !== null) {
    if (current.status === 'erased') throw new InvalidCredentialsError();
    await checkOwnPassword(deps, current, input.password, 'erasure', ctx);
  }
  let position: bigint | null = null;
  const r = await handle(deps, userStream(input.userId), UserAggregate, async (state) => {
    if (state.status !== 'none' && state.status !== 'erased') {
      if (state.email !== null) position = later(position, await releaseIdentifier(deps, { kind: 'email', value: state.email }, state.id, ctx));
      if (state.phone !== null) position = later(position, await releaseIdentifier(deps, { kind: 'phone', value: state.phone }, state.id, ctx));
    }
    return decideErase(state);
  }, ctx);
  position = later(position, r.position);
  const sessions = await deps.sessions.activeSessionIds(input.userId);
  position = later(position, await revokeSessions(deps, sessions, 'user_erased', ctx));
  await deps.keys.destroy(input.userId);
  deps.listener?.userErased(input.userId);
  return position;
}
