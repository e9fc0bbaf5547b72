/**
 * Sign-in with a second factor. A right password for a user with factors starts no
 * session: it records a single-use ticket (MfaChallengeIssued) and answers with it; the
 * second call redeems the ticket with a TOTP code, a recovery code or a WebAuthn assertion
 * (verify.ts) and starts the session, `amr` ["pwd","otp"] or ["pwd","hwk"]. A passkey also
 * signs in alone (discoverable credential, user verification required): `amr` ["hwk"].
 */
import { AccountDisabledError, InvalidCodeError, InvalidCredentialsError, InvalidTokenError } from '../../domain/errors.js';
import { mfaStream, userStream, type MfaMethod } from '../../domain/events.js';
import { afterSecondFactor, PASSKEY_SIGN_IN } from '../../domain/mfa/amr.js';
import { decideIssueChallenge, openChallenge } from '../../domain/mfa/decide.js';
import { methodsOf, PASSKEY_CHALLENGE_TTL_MS, type MfaState } from '../../domain/mfa/state.js';
import { UserAggregate, userAllowsSession, type ExistingUser, type User } from '../../domain/user/user.js';
import type { EventContext } from '../../ports/events.js';
import type { JsonOptions } from '../../ports/mfa.js';
import { handle, type CommandDeps } from '../handle.js';
import { load, loadMany, type Loaded } from '../load.js';
import { startSession, type IssuedTokens } from '../sessions.js';
import { passkeysOf, stored } from './registerPasskey.js';
import { mfaOf, verifySecondFactor, type SecondFactorProof } from './verify.js';

/** A sign-in waiting for its second factor: what the client is told. */
export interface MfaRequired {
  mfaRequired: true;
  ticket: string;
  expiresIn: number;
  methods: MfaMethod[];
  /** The assertion options for the user's passkeys (null when they have none). */
  webauthn: JsonOptions | null;
  position: bigint | null;
}

export const isMfaRequired = (x: IssuedTokens | MfaRequired): x is MfaRequired => 'mfaRequired' in x;

/** After a right password: the ticket, recorded on the user's `mfa-` stream at the revision the login read. */
export async function issueChallenge(
  deps: CommandDeps, user: ExistingUser, mfa: Loaded<MfaState>, via: 'login' | 'oauth', ctx: EventContext,
): Promise<MfaRequired> {
  const challengeId = deps.newId();
  const { ticket, hash } = deps.mfa.secrets.newTicket(user.id, challengeId);
  const ttl = deps.mfa.ticketTtlSeconds;
  const expiresAt = new Date(ctx.now.getTime() + ttl * 1000);
  const r = await handle(deps, mfaStream(user.id), mfaOf(deps), (state) => decideIssueChallenge(state, {
    userId: user.id, challengeId, ticketHash: hash, expiresAt, userRevision: user.revision, via,
  }), { ...ctx, actorId: user.id }, { start: mfa });
  const passkeys = passkeysOf(r.state.factors.values());
  const webauthn = passkeys.length === 0 ? null : await deps.mfa.passkeys.authenticationOptions({
    challenge: deps.mfa.secrets.ticketChallenge(challengeId), allow: passkeys.map(stored),
  });
  return { mfaRequired: true, ticket, expiresIn: ttl, methods: methodsOf(r.state), webauthn, position: r.position };
}

/** The second call: the ticket and one second factor → a session. */
export async function completeSignIn(deps: CommandDeps, ticket: string, proof: SecondFactorProof, ctx: EventContext): Promise<IssuedTokens> {
  const parsed = deps.mfa.secrets.parseTicket(ticket);
  if (!parsed) throw new InvalidTokenError('the MFA ticket is invalid, expired or already used; sign in again');
  const actor = { ...ctx, actorId: parsed.userId };
  const ticketOf = { challengeId: parsed.challengeId, hash: parsed.hash };
  // The account first, so that a void ticket spends no code: a password changed (or the
  // account disabled) since the password was checked voids it.
  const [before, mfa] = await loadMany(deps,
    { streamId: userStream(parsed.userId), aggregate: UserAggregate }, { streamId: mfaStream(parsed.userId), aggregate: mfaOf(deps) });
  const open = openChallenge(mfa.state, { challengeId: ticketOf.challengeId, ticketHash: ticketOf.hash, now: ctx.now }, deps.secrets.sameHash);
  ticketStillGood(before.state, open.userRevision);
  const verified = await verifySecondFactor(deps, { userId: parsed.userId, purpose: 'login', ticket: ticketOf, proof, loaded: mfa }, actor);
  const user = (await load(deps, userStream(parsed.userId), UserAggregate)).state;
  ticketStillGood(user, open.userRevision);
  return startSession(deps, user, actor, afterSecondFactor(verified.method));
}

function ticketStillGood(user: User, userRevision: bigint): asserts user is ExistingUser {
  if (user.status === 'disabled') throw new AccountDisabledError();
  if (user.status !== 'active' || !userAllowsSession(user, '', userRevision)) {
    throw new InvalidTokenError('the account changed since this sign-in began; sign in again');
  }
}

/** Options for a passkey sign-in: any discoverable credential of this relying party, user verification required. */
export async function passkeySignInOptions(deps: CommandDeps, now: Date): Promise<JsonOptions> {
  return deps.mfa.passkeys.authenticationOptions({
    challenge: deps.mfa.secrets.newChallenge('passkey-login', '', now, PASSKEY_CHALLENGE_TTL_MS), allow: [],
  });
}

/**
 * A passkey sign-in. Anything that is not a valid assertion of a registered passkey gets
 * 401 invalid_credentials; one that names a user's passkey but does not verify is also
 * counted by that account's MFA throttle.
 */
export async function passkeySignIn(deps: CommandDeps, response: unknown, ctx: EventContext): Promise<IssuedTokens> {
  const subject = deps.mfa.passkeys.assertionSubject(response);
  if (!subject || subject.userId === null) throw new InvalidCredentialsError();
  const userId = subject.userId;
  const [user, mfa] = await loadMany(deps,
    { streamId: userStream(userId), aggregate: UserAggregate }, { streamId: mfaStream(userId), aggregate: mfaOf(deps) });
  const known = passkeysOf(mfa.state.factors.values()).some((f) => f.credentialId === subject.credentialId);
  if (!known || (user.state.status !== 'active' && user.state.status !== 'disabled')) throw new InvalidCredentialsError();
  const actor = { ...ctx, actorId: userId };
  try {
    await verifySecondFactor(deps, {
      userId, purpose: 'passkey_login', proof: { webauthn: response },
      passkeyChallenge: (c) => deps.mfa.secrets.checkChallenge('passkey-login', '', c, ctx.now),
    }, actor);
  } catch (e) {
    if (e instanceof InvalidCodeError) throw new InvalidCredentialsError();
    throw e;
  }
  const now = (await load(deps, userStream(userId), UserAggregate)).state;
  if (now.status === 'disabled') throw new AccountDisabledError();
  if (now.status !== 'active') throw new InvalidCredentialsError();
  return startSession(deps, now, actor, PASSKEY_SIGN_IN);
}
