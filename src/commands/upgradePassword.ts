/**
 * UpgradePassword: after a successful sign-in with a hash that is not ours at our current
 * parameters (an imported user's Django hash, an older argon2id), the same password hashed
 * anew, recorded as PasswordUpgraded at the revision the password was checked against. It
 * never fails the sign-in: a concurrent change of the user stream wins (the next sign-in
 * tries again), and a store error only leaves the old hash in place.
 */
import { userStream } from '../domain/events.js';
import { decideUpgradePassword, UserAggregate, type ExistingUser } from '../domain/user/user.js';
import type { EventContext } from '../ports/events.js';
import { handle, type CommandDeps } from './handle.js';

/** true when PasswordUpgraded was appended. */
export async function upgradePassword(deps: CommandDeps, user: ExistingUser, password: string, ctx: EventContext): Promise<boolean> {
  const checked = user.passwordHash;
  if (checked === null || !deps.hasher.needsUpgrade(checked)) return false;
  try {
    const fresh = await deps.hasher.hash(password);
    const r = await handle(deps, userStream(user.id), UserAggregate, (state) => decideUpgradePassword(state, checked, fresh),
      { ...ctx, actorId: user.id }, { start: { state: user, revision: user.revision }, attempts: 1 });
    return r.events.length > 0;
  } catch {
    return false;
  }
}
