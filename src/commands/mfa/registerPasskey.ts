/**
 * Passkey registration (the WebAuthn registration ceremony): a fresh password check gives
 * the creation options, with a challenge that names the user and expires in five minutes;
 * the browser's answer is verified against that challenge, the relying party and its
 * origins, and the credential becomes a factor. A discoverable credential (a passkey)
 * signs in alone later; its user handle is the user id.
 */
import { mfaStream } from '../../domain/events.js';
import { decideAddPasskey } from '../../domain/mfa/decide.js';
import { PASSKEY_CHALLENGE_TTL_MS, type WebAuthnFactor } from '../../domain/mfa/state.js';
import { InvalidCodeError } from '../../domain/errors.js';
import type { EventContext } from '../../ports/events.js';
import type { JsonOptions, StoredCredential } from '../../ports/mfa.js';
import { handle, type CommandDeps } from '../handle.js';
import { load } from '../load.js';
import { checkOwnPassword } from '../passwordCheck.js';
import { accountName, added, currentUser, firstCodes, type AddedFactor } from './enrolTotp.js';
import { mfaOf } from './verify.js';

export const passkeysOf = (factors: Iterable<{ kind: string }>): WebAuthnFactor[] =>
  [...factors].filter((f): f is WebAuthnFactor => f.kind === 'webauthn');

export const stored = (f: WebAuthnFactor): StoredCredential =>
  ({ credentialId: f.credentialId, publicKey: f.publicKey, signCount: f.signCount, transports: f.transports });

export async function passkeyRegistrationOptions(
  deps: CommandDeps, userId: string, password: string, ctx: EventContext,
): Promise<JsonOptions> {
  const user = await currentUser(deps, userId);
  await checkOwnPassword(deps, user, password, 'mfa', ctx);
  const { state } = await load(deps, mfaStream(userId), mfaOf(deps));
  const name = accountName(user);
  const displayName = `${user.firstName} ${user.lastName}`.trim() || name;
  return deps.mfa.passkeys.registrationOptions({
    userId, userName: name, displayName, exclude: passkeysOf(state.factors.values()).map(stored),
    challenge: deps.mfa.secrets.newChallenge('passkey-register', userId, ctx.now, PASSKEY_CHALLENGE_TTL_MS),
  });
}

export async function registerPasskey(
  deps: CommandDeps, userId: string, input: { response: unknown; label: string }, ctx: EventContext,
): Promise<AddedFactor> {
  await currentUser(deps, userId);
  const credential = await deps.mfa.passkeys.verifyRegistration(input.response,
    (challenge) => deps.mfa.secrets.checkChallenge('passkey-register', userId, challenge, ctx.now) !== null);
  if (!credential) throw new InvalidCodeError('the passkey registration did not verify; ask for new options and try again');
  const factorId = deps.newId();
  const made: { codes: ReturnType<typeof firstCodes> } = { codes: null };
  const r = await handle(deps, mfaStream(userId), mfaOf(deps), (state) => {
    made.codes = firstCodes(deps, state);
    return decideAddPasskey(state, { userId, factorId, label: input.label, ...credential }, made.codes?.recorded ?? null);
  }, ctx);
  return added(r, factorId, made.codes);
}
