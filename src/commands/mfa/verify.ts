/**
 * Verifying a second factor, the one path every use takes (a sign-in ticket, a passkey
 * sign-in, removing the last factor): read the user's `mfa-` stream, check the throttle,
 * check the code or assertion against that state, and append MfaVerified or MfaFailed at
 * the revision read. Two uses of one code, ticket or nonce race to that append: one wins,
 * the other reads again and finds it used. A failure is recorded, then answered 400
 * invalid_code; a locked account gets 429 before anything is checked.
 */
import { InvalidCodeError, RateLimitedError } from '../../domain/errors.js';
import { mfaStream, type MfaMethod, type MfaPurpose } from '../../domain/events.js';
import { decideVerify, openChallenge, type Check } from '../../domain/mfa/decide.js';
import { mfaAggregate, type MfaState, type OpenChallenge, type WebAuthnFactor } from '../../domain/mfa/state.js';
import { checkThrottle } from '../../domain/login/throttle.js';
import type { EventContext } from '../../ports/events.js';
import { handle, type CommandDeps } from '../handle.js';
import type { Loaded } from '../load.js';

/** What the user presented: one of a TOTP code, a recovery code, a WebAuthn assertion. */
export type SecondFactorProof = { code: string } | { recoveryCode: string } | { webauthn: unknown };

export const methodOf = (proof: SecondFactorProof): MfaMethod =>
  'code' in proof ? 'totp' : 'recoveryCode' in proof ? 'recovery_code' : 'webauthn';

export const mfaOf = (deps: Pick<CommandDeps, 'throttle'>) => mfaAggregate(deps.throttle.maxFailures);

export interface VerifyRequest {
  userId: string;
  purpose: MfaPurpose;
  /** The sign-in ticket being redeemed (its WebAuthn challenge is derived from it). */
  ticket?: { challengeId: string; hash: string };
  proof: SecondFactorProof;
  /** For a passkey sign-in: whether the assertion's challenge is one of ours, and its nonce. */
  passkeyChallenge?: (challenge: Uint8Array) => string | null;
  /** The `mfa-` stream as the caller has just read it (the first decision starts from it). */
  loaded?: Loaded<MfaState>;
}

export interface Verified {
  state: MfaState;
  method: MfaMethod;
  factorId: string | null;
  challenge: OpenChallenge | null;
  position: bigint | null;
}

export async function verifySecondFactor(deps: CommandDeps, req: VerifyRequest, ctx: EventContext): Promise<Verified> {
  const method = methodOf(req.proof);
  const seen: { challenge: OpenChallenge | null } = { challenge: null };
  const r = await handle(deps, mfaStream(req.userId), mfaOf(deps), async (state) => {
    const challenge = req.ticket
      ? openChallenge(state, { challengeId: req.ticket.challengeId, ticketHash: req.ticket.hash, now: ctx.now }, deps.secrets.sameHash)
      : null;
    seen.challenge = challenge;
    checkThrottle({ failures: state.failures, pending: new Map() }, deps.throttle, ctx.now);
    const check = await checkProof(deps, state, req, ctx.now);
    return [decideVerify(state, deps.throttle, { userId: req.userId, purpose: req.purpose, method, challengeId: challenge?.id ?? null, now: ctx.now, check })];
  }, ctx, {
    attempts: 6, exhausted: () => new RateLimitedError(1, 'too many simultaneous attempts for this account'),
    ...(req.loaded ? { start: req.loaded } : {}),
  });
  const event = r.events[0];
  if (event?.type !== 'MfaVerified') throw new InvalidCodeError('the second factor did not verify');
  return { state: r.state, method, factorId: event.data.factor_id, challenge: seen.challenge, position: r.position };
}

/** Checks the proof against the state read (no event yet): which factor it matched, and what makes it single-use. */
async function checkProof(deps: CommandDeps, state: MfaState, req: VerifyRequest, now: Date): Promise<Check> {
  const proof = req.proof;
  if ('code' in proof) {
    for (const f of state.factors.values()) {
      if (f.kind !== 'totp') continue;
      const step = deps.mfa.codes.matchStep(f.secret, proof.code, now);
      if (step !== null) return { ok: true, factorId: f.id, totpStep: step };
    }
    return { ok: false, reason: 'wrong_code' };
  }
  if ('recoveryCode' in proof) {
    const codes = state.recovery;
    if (!codes) return { ok: false, reason: 'wrong_code' };
    const hash = deps.mfa.secrets.recoveryCodeHash(codes.batchId, proof.recoveryCode);
    const index = codes.hashes.findIndex((h) => deps.secrets.sameHash(h, hash));
    return index < 0 ? { ok: false, reason: 'wrong_code' } : { ok: true, factorId: null, recoveryIndex: index };
  }
  const subject = deps.mfa.passkeys.assertionSubject(proof.webauthn);
  const factor = [...state.factors.values()].find(
    (f): f is WebAuthnFactor => f.kind === 'webauthn' && f.credentialId === subject?.credentialId);
  if (!subject || !factor) return { ok: false, reason: 'unknown_factor' };
  let nonce: string | undefined;
  const challengeOk = (challenge: Uint8Array): boolean => {
    if (req.ticket) return sameBytes(deps, challenge, deps.mfa.secrets.ticketChallenge(req.ticket.challengeId));
    nonce = req.passkeyChallenge?.(challenge) ?? undefined;
    return nonce !== undefined;
  };
  const verified = await deps.mfa.passkeys.verifyAuthentication(proof.webauthn, factor, challengeOk, req.purpose === 'passkey_login');
  if (!verified) return { ok: false, reason: 'bad_assertion' };
  return { ok: true, factorId: factor.id, signCount: verified.signCount, ...(nonce === undefined ? {} : { nonce }) };
}

function sameBytes(deps: CommandDeps, a: Uint8Array, b: Uint8Array): boolean {
  return a.length === b.length && deps.secrets.sameHash(Buffer.from(a).toString('base64url'), Buffer.from(b).toString('base64url'));
}
