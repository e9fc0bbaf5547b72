/**
 * IssueTokens (login): every decision is made on event streams — the throttle on the
 * identifier's failed-login stream, the owner on its reservation stream, the password and
 * status on the user stream — never on a read model that may lag. Unknown identifiers cost
 * the same argon2 work as wrong passwords and get the same answer.
 */
import { AccountDisabledError, InvalidCredentialsError } from '../domain/errors.js';
import { loginsStream, userStream, type LoginFailed, type LoginFailedReason } from '../domain/events.js';
import { checkThrottle } from '../domain/loginThrottle.js';
import type { User } from '../domain/user.js';
import type { EventContext } from '../infra/eventCodec.js';
import { normaliseEmail, normaliseIdentifier, normalisePhone } from '../policy/identifiers.js';
import { UserAggregate } from './aggregates.js';
import { load, record, type CommandDeps } from './handle.js';
import { holderOf, type Identifier } from './identifiers.js';
import { startSession, type IssuedTokens } from './sessions.js';

export type LoginIdentifier = { email: string } | { phone: string } | { identifier: string };

export function toIdentifier(input: LoginIdentifier): Identifier {
  if ('email' in input) return { kind: 'email', value: normaliseEmail(input.email) };
  if ('phone' in input) return { kind: 'phone', value: normalisePhone(input.phone) };
  return normaliseIdentifier(input.identifier);
}

export async function issueTokens(
  deps: CommandDeps,
  input: { identifier: Identifier; password: string },
  ctx: EventContext,
): Promise<IssuedTokens> {
  const { identifier, password } = input;
  const hmac = deps.secrets.identifierHash(identifier.kind, identifier.value);
  const failuresStream = loginsStream(hmac);

  const recent = await deps.store.readStream(failuresStream, { direction: 'backwards', maxCount: deps.throttle.maxFailures });
  checkThrottle(recent.map((e) => e.occurredAt), deps.throttle, ctx.now);

  const holder = await holderOf(deps, identifier);
  const { state: user } = holder === null
    ? { state: { status: 'none' } as User }
    : await load(deps, userStream(holder), UserAggregate);
  const known = user.status === 'active' || user.status === 'disabled';
  const holds = known && (identifier.kind === 'email' ? user.email : user.phone) === identifier.value;

  const fail = async (userId: string | null, reason: LoginFailedReason): Promise<void> => {
    const event: LoginFailed = { type: 'LoginFailed', data: { user_id: userId, kind: identifier.kind, reason } };
    await record(deps, failuresStream, [event], { ...ctx, actorId: null });
  };

  if (!known || !holds) {
    await deps.hasher.verify(null, password);
    await fail(null, 'unknown_identifier');
    throw new InvalidCredentialsError();
  }
  if (!(await deps.hasher.verify(user.passwordHash, password))) {
    await fail(user.id, 'wrong_password');
    throw new InvalidCredentialsError();
  }
  if (user.status === 'disabled') {
    await fail(user.id, 'account_disabled');
    throw new AccountDisabledError();
  }
  return startSession(deps, user, { ...ctx, actorId: user.id });
}
