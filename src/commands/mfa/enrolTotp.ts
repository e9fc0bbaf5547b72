/**
 * TOTP enrolment: a fresh password check starts it (a new secret, shown once with its
 * otpauth URI and QR code, good for ten minutes); the first code from the app confirms it,
 * and only then does it count as a factor. The first factor of a user comes with ten
 * recovery codes, shown in that answer only.
 */
import { mfaStream, userStream } from '../../domain/events.js';
import { decideConfirmTotp, decideStartTotp, type NewRecoveryCodes } from '../../domain/mfa/decide.js';
import type { Factor, MfaState } from '../../domain/mfa/state.js';
import { requireExisting, UserAggregate, type ExistingUser } from '../../domain/user/user.js';
import type { EventContext } from '../../ports/events.js';
import { handle, type CommandDeps } from '../handle.js';
import { load } from '../load.js';
import { checkOwnPassword } from '../passwordCheck.js';
import { mfaOf } from './verify.js';

const ENROLMENT_TTL_MS = 600_000;

export interface StartedTotp {
  factorId: string;
  secret: string;
  uri: string;
  qrCode: string;
  expiresAt: Date;
  position: bigint | null;
}

/** The signed-in user, checked to exist (404 once erased). */
export async function currentUser(deps: CommandDeps, userId: string): Promise<ExistingUser> {
  return requireExisting((await load(deps, userStream(userId), UserAggregate)).state);
}

/** What a user is called in an authenticator app: their email, else their phone. */
export const accountName = (user: ExistingUser): string => user.email ?? user.phone ?? user.id;

export async function startTotp(
  deps: CommandDeps, userId: string, input: { password: string; label: string }, ctx: EventContext,
): Promise<StartedTotp> {
  const user = await currentUser(deps, userId);
  await checkOwnPassword(deps, user, input.password, 'mfa', ctx);
  const factorId = deps.newId();
  const secret = deps.mfa.codes.newSecret();
  const expiresAt = new Date(ctx.now.getTime() + ENROLMENT_TTL_MS);
  const r = await handle(deps, mfaStream(userId), mfaOf(deps), (state) =>
    decideStartTotp(state, { userId, factorId, label: input.label, secret, expiresAt }), ctx);
  const uri = deps.mfa.codes.uri(secret, accountName(user));
  return { factorId, secret, uri, qrCode: await deps.mfa.codes.qrCode(uri), expiresAt, position: r.position };
}

/** New recovery codes when the user has none (their first factor): the codes to show and what the event records. */
export function firstCodes(deps: CommandDeps, state: MfaState): { shown: string[]; recorded: NewRecoveryCodes } | null {
  if (state.recovery !== null) return null;
  const batchId = deps.newId();
  const { codes, hashes } = deps.mfa.secrets.newRecoveryCodes(batchId);
  return { shown: codes, recorded: { batchId, hashes } };
}

export interface AddedFactor {
  factor: Factor;
  /** Shown once: the recovery codes made with the user's first factor (null: they had codes). */
  recoveryCodes: string[] | null;
  position: bigint | null;
}

export async function confirmTotp(
  deps: CommandDeps, userId: string, input: { factorId: string; code: string }, ctx: EventContext,
): Promise<AddedFactor> {
  await currentUser(deps, userId);
  const made: { codes: ReturnType<typeof firstCodes> } = { codes: null };
  const r = await handle(deps, mfaStream(userId), mfaOf(deps), (state) => {
    const pending = state.pending.get(input.factorId);
    const step = pending ? deps.mfa.codes.matchStep(pending.secret, input.code, ctx.now) : null;
    made.codes = firstCodes(deps, state);
    return decideConfirmTotp(state, { userId, factorId: input.factorId, step, now: ctx.now, codes: made.codes?.recorded ?? null });
  }, ctx);
  return added(r, input.factorId, made.codes);
}

/** The factor a handled enrolment added, and the recovery codes it made (if it made them). */
export function added(
  r: { state: MfaState; events: readonly { type: string }[]; position: bigint | null }, factorId: string, codes: ReturnType<typeof firstCodes>,
): AddedFactor {
  const factor = r.state.factors.get(factorId) as Factor;
  const made = r.events.some((e) => e.type === 'RecoveryCodesGenerated');
  return { factor, recoveryCodes: made && codes ? codes.shown : null, position: r.position };
}
