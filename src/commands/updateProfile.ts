/**
 * UpdateProfile: names, and moving an email or phone. A new identifier is claimed on its
 * reservation stream first (exactly one of concurrent changes to one address wins), then
 * the change is appended to the user stream, then the old identifier is released.
 */
import { userStream } from '../domain/events.js';
import { decideUpdateProfile, requireExisting, type ExistingUser, type UpdateProfile } from '../domain/user/user.js';
import type { EventContext } from '../ports/events.js';
import { normaliseEmail, normaliseName, normalisePhone } from '../policy/identifiers.js';
import { UserAggregate } from '../domain/user/user.js';
import { emailVerificationAfter } from '../domain/user/recovery.js';
import { newIssue } from './recovery/issue.js';
import { handle, later, type CommandDeps } from './handle.js';
import { load } from './load.js';
import { claimIdentifier, releaseIdentifier, releaseQuietly, type Identifier } from './identifiers.js';

export interface UpdateProfileInput {
  firstName?: string | undefined;
  lastName?: string | undefined;
  email?: string | null | undefined;
  phone?: string | null | undefined;
}

export async function updateProfile(
  deps: CommandDeps,
  userId: string,
  input: UpdateProfileInput,
  ctx: EventContext,
): Promise<{ user: ExistingUser; position: bigint | null }> {
  const change: UpdateProfile = {};
  if (input.firstName !== undefined) change.firstName = normaliseName(input.firstName, '/first_name');
  if (input.lastName !== undefined) change.lastName = normaliseName(input.lastName, '/last_name');
  if (input.email !== undefined) change.email = input.email === null ? null : normaliseEmail(input.email);
  if (input.phone !== undefined) change.phone = input.phone === null ? null : normalisePhone(input.phone, '/phone', deps.phoneRegion);

  const before = requireExisting((await load(deps, userStream(userId), UserAggregate)).state);
  // Fail fast on a change that would leave no identifier, before claiming anything.
  decideUpdateProfile(before, change);

  const claims: Identifier[] = [];
  if (change.email && change.email !== before.email) claims.push({ kind: 'email', value: change.email });
  if (change.phone && change.phone !== before.phone) claims.push({ kind: 'phone', value: change.phone });

  let position: bigint | null = null;
  const claimed: Identifier[] = [];
  let after: ExistingUser;
  try {
    for (const id of claims) {
      position = later(position, await claimIdentifier(deps, id, userId, ctx));
      claimed.push(id);
    }
    const r = await handle(deps, userStream(userId), UserAggregate, (state) => {
      const changed = decideUpdateProfile(state, change);
      return [...changed, ...emailVerificationAfter(changed, () => newIssue(deps, 'email_verification', 'email', userId, deps.newId(), ctx.now))];
    }, ctx);
    after = requireExisting(r.state);
    position = later(position, r.position);
  } catch (e) {
    await releaseQuietly(deps, claimed, userId, ctx);
    throw e;
  }
  // Release what the user no longer holds.
  const released: Identifier[] = [];
  if (before.email !== null && before.email !== after.email) released.push({ kind: 'email', value: before.email });
  if (before.phone !== null && before.phone !== after.phone) released.push({ kind: 'phone', value: before.phone });
  for (const id of released) position = later(position, await releaseIdentifier(deps, id, userId, ctx));
  return { user: after, position };
}
