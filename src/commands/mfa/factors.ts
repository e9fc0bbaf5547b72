/**
 * Managing factors: the list (never a secret), removing one, new recovery codes, and an
 * admin's reset. Removing the last factor needs a fresh proof: the password, a code from
 * that factor or a recovery code (checked under their throttles like any other use); a
 * proof given for another factor is checked too.
 */
import { mfaStream } from '../../domain/events.js';
import { decideGenerateCodes, decideRemoveFactor, decideReset } from '../../domain/mfa/decide.js';
import { hasFactors, recoveryCodesLeft, type Factor, type MfaState } from '../../domain/mfa/state.js';
import { ConflictError, NotFoundError, ValidationError } from '../../domain/errors.js';
import type { EventContext } from '../../ports/events.js';
import { handle, later, type CommandDeps } from '../handle.js';
import { load } from '../load.js';
import { checkOwnPassword } from '../passwordCheck.js';
import { currentUser } from './enrolTotp.js';
import { mfaOf, verifySecondFactor, type SecondFactorProof } from './verify.js';

export interface MfaSummary {
  factors: Factor[];
  recoveryCodesLeft: number;
  recoveryCodesGeneratedAt: Date | null;
}

export const summaryOf = (state: MfaState): MfaSummary => ({
  factors: [...state.factors.values()].sort((a, b) => a.createdAt.getTime() - b.createdAt.getTime()),
  recoveryCodesLeft: recoveryCodesLeft(state),
  recoveryCodesGeneratedAt: state.recovery?.generatedAt ?? null,
});

/** A user's factors as the stream holds them now (no read model: it decides sign-ins). */
export async function mfaSummary(deps: CommandDeps, userId: string): Promise<MfaSummary> {
  return summaryOf((await load(deps, mfaStream(userId), mfaOf(deps))).state);
}

export type RemovalProof = { password: string } | SecondFactorProof | { none: true };

export async function removeFactor(
  deps: CommandDeps, userId: string, factorId: string, proof: RemovalProof, ctx: EventContext,
): Promise<bigint | null> {
  const user = await currentUser(deps, userId);
  const { state } = await load(deps, mfaStream(userId), mfaOf(deps));
  if (!state.factors.has(factorId)) throw new NotFoundError('factor');
  // A proof given is checked, whether or not this is the last factor (which needs one).
  let position: bigint | null = null;
  if ('password' in proof) await checkOwnPassword(deps, user, proof.password, 'mfa', ctx);
  else if (!('none' in proof)) position = (await verifySecondFactor(deps, { userId, purpose: 'remove_factor', proof }, ctx)).position;
  const proven = !('none' in proof);
  const r = await handle(deps, mfaStream(userId), mfaOf(deps), (s) => decideRemoveFactor(s, { userId, factorId, proven }), ctx);
  return later(position, r.position);
}

/** Ten new recovery codes (the old ones are void), after a fresh password check; shown once. */
export async function regenerateRecoveryCodes(
  deps: CommandDeps, userId: string, password: string, ctx: EventContext,
): Promise<{ codes: string[]; position: bigint | null }> {
  const user = await currentUser(deps, userId);
  const { state } = await load(deps, mfaStream(userId), mfaOf(deps));
  // 409 before the password is checked (the decision below checks again, on the state it appends to).
  if (!hasFactors(state)) throw new ConflictError('recovery codes back up a second factor: add a factor first');
  await checkOwnPassword(deps, user, password, 'mfa', ctx);
  const batchId = deps.newId();
  const { codes, hashes } = deps.mfa.secrets.newRecoveryCodes(batchId);
  const r = await handle(deps, mfaStream(userId), mfaOf(deps), (s) => decideGenerateCodes(s, { userId, codes: { batchId, hashes } }), ctx);
  return { codes, position: r.position };
}

/** An admin clears every factor and recovery code of a user (MfaReset, the admin as actor). */
export async function resetMfa(deps: CommandDeps, userId: string, ctx: EventContext): Promise<bigint | null> {
  await currentUser(deps, userId);
  const r = await handle(deps, mfaStream(userId), mfaOf(deps), (s) => decideReset(s, userId), ctx);
  return r.position;
}

/** Whether `proof` names exactly one way of proving (400 otherwise). */
export function oneProof(p: { password?: string; code?: string; recovery_code?: string }): RemovalProof {
  const given = Object.entries(p).filter(([, v]) => v !== undefined);
  if (given.length > 1) throw new ValidationError('/', 'give at most one of password, code and recovery_code');
  if (p.password !== undefined) return { password: p.password };
  if (p.code !== undefined) return { code: p.code };
  if (p.recovery_code !== undefined) return { recoveryCode: p.recovery_code };
  return { none: true };
}
