/**
 * RegisterUser: claim each identifier on its reservation stream (exactly one concurrent
 * registration of an email wins), then append UserRegistered, then start the first
 * session. A loser releases what it claimed and leaves no user stream behind.
 */
import { IdentifierTakenError, ValidationError } from '../domain/errors.js';
import { userStream } from '../domain/events.js';
import { checkPasswordPolicy } from '../domain/user/password.js';
import { decideRegister, type ExistingUser } from '../domain/user/user.js';
import { decideVouch, emailVerificationAfter } from '../domain/user/recovery.js';
import { newIssue } from './recovery/issue.js';
import type { EventContext } from '../ports/events.js';
import { normaliseEmail, normaliseName, normalisePhone } from '../policy/identifiers.js';
import { UserAggregate } from '../domain/user/user.js';
import { handle, later, type CommandDeps } from './handle.js';
import { claimIdentifier, releaseQuietly, type Identifier } from './identifiers.js';
import { startSession, type IssuedTokens } from './sessions.js';

export interface RegisterUserInput {
  email?: string | null | undefined;
  phone?: string | null | undefined;
  password: string;
  firstName?: string | undefined;
  lastName?: string | undefined;
  roles?: string[];
  /** An operator vouches for the identifiers (CLI, bootstrap admin): verified, no message sent. */
  vouched?: boolean;
}

export interface Registered {
  user: ExistingUser;
  position: bigint | null;
}

/** Registers a user without starting a session (the bootstrap admin uses this). */
export async function createUser(deps: CommandDeps, input: RegisterUserInput, ctx: EventContext): Promise<Registered> {
  const email = input.email == null ? null : normaliseEmail(input.email);
  const phone = input.phone == null ? null : normalisePhone(input.phone, '/phone', deps.phoneRegion);
  if (email === null && phone === null) throw new ValidationError('/email', 'an email or a phone number is required');
  const firstName = normaliseName(input.firstName ?? '', '/first_name');
  const lastName = normaliseName(input.lastName ?? '', '/last_name');
  checkPasswordPolicy(input.password, deps.isCommonPassword);

  const userId = deps.newId();
  const passwordHash = await deps.hasher.hash(input.password);
  await deps.keys.create(userId);
  const userCtx: EventContext = { ...ctx, actorId: ctx.actorId ?? userId };

  const claimed: Identifier[] = [];
  let position: bigint | null = null;
  try {
    for (const id of [email && { kind: 'email' as const, value: email }, phone && { kind: 'phone' as const, value: phone }]) {
      if (!id) continue;
      position = later(position, await claimIdentifier(deps, id, userId, userCtx));
      claimed.push(id);
    }
    const r = await handle(deps, userStream(userId), UserAggregate, (state) => {
      const registered = decideRegister(state, { userId, email, phone, firstName, lastName, passwordHash, roles: input.roles ?? ['user'] });
      if (input.vouched) return [...registered, ...decideVouch({ id: userId, email, phone, emailVerified: false, phoneVerified: false })];
      return [...registered, ...emailVerificationAfter(registered,
        () => newIssue(deps, 'email_verification', 'email', userId, deps.newId(), ctx.now))];
    }, userCtx, { start: 'new' });
    if (r.state.status === 'none') throw new Error('registration appended nothing');
    return { user: r.state, position: later(position, r.position) };
  } catch (e) {
    await releaseQuietly(deps, claimed, userId, userCtx);
    await deps.keys.destroy(userId).catch(() => {});
    if (e instanceof IdentifierTakenError) throw e;
    throw e;
  }
}

export async function registerUser(deps: CommandDeps, input: RegisterUserInput, ctx: EventContext): Promise<IssuedTokens> {
  const { user, position } = await createUser(deps, input, ctx);
  const issued = await startSession(deps, user, { ...ctx, actorId: ctx.actorId ?? user.id });
  return { ...issued, position: later(position, issued.position) };
}
