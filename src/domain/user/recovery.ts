/**
 * Recovery and verification on the user aggregate: pending requests (a password reset,
 * an email or phone verification), their expiry and attempt limit, and the decisions that
 * issue and redeem them. A request is redeemed with a token or code whose keyed hash the
 * request recorded; whether a presented one matches is computed by the caller (a keyed,
 * timing-safe comparison) and handed in as a function. A newer request of a purpose voids
 * the older; changing the email or phone voids what was sent to the old one.
 */
import { ConflictError, InvalidCodeError } from '../errors.js';
import type { Recorded, RecoveryEvent, ResetChannel, UserEvent } from '../events.js';
import type { ExistingUser, User } from './user.js';

export type PendingPurpose = 'reset' | 'email' | 'phone';

export interface Pending {
  requestId: string;
  tokenHash: string;
  expiresAt: Date;
  failures: number;
  /** For a reset: where its token went. */
  channel: ResetChannel;
}

export type PendingRequests = Readonly<Partial<Record<PendingPurpose, Pending>>>;

/** How recovery behaves (configuration: PASSWORD_RESET_TTL_SECONDS, …). */
export interface RecoveryPolicy {
  resetTtlSeconds: number;
  emailVerifyTtlSeconds: number;
  requireVerifiedIdentifier: boolean;
  /** Reset requests per identifier within windowSeconds. */
  maxRequests: number;
  windowSeconds: number;
}

/** Wrong tokens or codes a request tolerates; the next one finds it void. */
export const MAX_CODE_FAILURES = 5;

/** A phone code's lifetime (the contract's 600 s). */
export const CODE_TTL_SECONDS = 600;

const without = (p: PendingRequests, purpose: PendingPurpose): PendingRequests => {
  const { [purpose]: _gone, ...rest } = p;
  return rest;
};

const RECOVERY_TYPES: ReadonlySet<string> = new Set<RecoveryEvent['type']>([
  'PasswordResetRequested', 'PasswordReset', 'EmailVerificationRequested', 'EmailVerified',
  'PhoneVerificationRequested', 'PhoneVerified', 'VerificationFailed',
]);

export const isRecoveryEvent = (e: Recorded<UserEvent>): e is Recorded<RecoveryEvent> => RECOVERY_TYPES.has(e.type);

/**
 * The recovery events' effect on an existing user (user.ts folds the rest). Redeeming one
 * changes the user (`updatedAt`); asking for one or a wrong attempt does not.
 */
export function evolveRecovery(state: ExistingUser, e: Recorded<RecoveryEvent>): ExistingUser {
  const s = e.type === 'PasswordReset' || e.type === 'EmailVerified' || e.type === 'PhoneVerified'
    ? { ...state, updatedAt: e.occurredAt } : state;
  switch (e.type) {
    case 'PasswordResetRequested':
      return { ...s, pending: { ...s.pending, reset: pendingOf(e.data, e.data.channel) } };
    case 'EmailVerificationRequested':
      return { ...s, pending: { ...s.pending, email: pendingOf(e.data, 'email') } };
    case 'PhoneVerificationRequested':
      return { ...s, pending: { ...s.pending, phone: pendingOf(e.data, 'phone') } };
    case 'PasswordReset':
      return {
        ...s, passwordHash: e.data.password_hash, pending: without(s.pending, 'reset'),
        sessionsValidFromRevision: e.revision, keptSessionId: null,
      };
    case 'EmailVerified':
      return { ...s, emailVerified: true, pending: without(s.pending, 'email') };
    case 'PhoneVerified':
      return { ...s, phoneVerified: true, pending: without(s.pending, 'phone') };
    case 'VerificationFailed': {
      const pending: Partial<Record<PendingPurpose, Pending>> = { ...s.pending };
      for (const purpose of ['reset', 'email', 'phone'] as const) {
        const p = pending[purpose];
        if (p?.requestId === e.data.request_id) pending[purpose] = { ...p, failures: p.failures + 1 };
      }
      return { ...s, pending };
    }
  }
}

function pendingOf(d: { request_id: string; token_hash: string; expires_at: string }, channel: ResetChannel): Pending {
  return { requestId: d.request_id, tokenHash: d.token_hash, expiresAt: new Date(d.expires_at), failures: 0, channel };
}

/** What a change of identifier voids: its verification, and a reset sent to it. */
export function afterIdentifierChange(s: ExistingUser, kind: ResetChannel): ExistingUser {
  let pending = without(s.pending, kind);
  if (s.pending.reset?.channel === kind) pending = without(pending, 'reset');
  return kind === 'email' ? { ...s, emailVerified: false, pending } : { ...s, phoneVerified: false, pending };
}

/// Issuing

export interface Issue {
  requestId: string;
  tokenHash: string;
  expiresAt: Date;
}

/**
 * A password reset for an active user, sent to `channel` (which the user must have).
 * Nothing when this request was issued already (a reactor acting twice on one ask).
 */
export function decideRequestReset(state: User, c: Issue & { channel: ResetChannel }): UserEvent[] {
  if (state.status !== 'active') return [];
  if (state.pending.reset?.requestId === c.requestId) return [];
  if ((c.channel === 'email' ? state.email : state.phone) === null) throw new ConflictError(`the user has no ${c.channel}`);
  return [{
    type: 'PasswordResetRequested',
    data: { user_id: state.id, request_id: c.requestId, channel: c.channel, token_hash: c.tokenHash, expires_at: c.expiresAt.toISOString() },
  }];
}

/** A new verification of the user's email or phone: 409 when there is none or it is verified. */
export function decideRequestVerification(state: ExistingUser, kind: ResetChannel, c: Issue): UserEvent[] {
  const value = kind === 'email' ? state.email : state.phone;
  if (value === null) throw new ConflictError(`there is no ${kind} to verify`);
  if (kind === 'email' ? state.emailVerified : state.phoneVerified) throw new ConflictError(`the ${kind} is verified already`);
  const data = { user_id: state.id, request_id: c.requestId, token_hash: c.tokenHash, expires_at: c.expiresAt.toISOString() };
  return [kind === 'email' ? { type: 'EmailVerificationRequested', data } : { type: 'PhoneVerificationRequested', data }];
}

/// Redeeming

/**
 * The pending request of `purpose` a presented token or code is checked against; throws
 * InvalidCodeError when there is none usable (none, expired, out of attempts). A user who
 * is not active redeems nothing.
 */
export function usablePending(state: User, purpose: PendingPurpose, now: Date): { user: ExistingUser; pending: Pending } {
  if (state.status !== 'active') throw new InvalidCodeError();
  const pending = state.pending[purpose];
  if (!pending || pending.expiresAt.getTime() <= now.getTime() || pending.failures >= MAX_CODE_FAILURES) throw new InvalidCodeError();
  return { user: state, pending };
}

export interface Redeem {
  now: Date;
  /** Whether the presented token or code matches the request's recorded keyed hash. */
  matches: (pending: Pending) => boolean;
  /** For a reset by phone code: the code must have gone by SMS (and a link by email). */
  channel?: ResetChannel;
}

/** A wrong attempt is recorded (VerificationFailed): the caller answers invalid_code after appending it. */
const failed = (user: ExistingUser, pending: Pending): UserEvent[] =>
  [{ type: 'VerificationFailed', data: { user_id: user.id, request_id: pending.requestId } }];

export const isFailure = (events: readonly UserEvent[]): boolean => events.some((e) => e.type === 'VerificationFailed');

/**
 * Redeems a password reset: the new password (hashed by the caller) and, since the token
 * or code reached the user, the identifier it went to is verified too.
 */
export function decideResetPassword(state: User, c: Redeem & { newPasswordHash: string }): UserEvent[] {
  const { user, pending } = usablePending(state, 'reset', c.now);
  if (c.channel !== undefined && c.channel !== pending.channel) throw new InvalidCodeError();
  if (!c.matches(pending)) return failed(user, pending);
  const events: UserEvent[] = [
    { type: 'PasswordReset', data: { user_id: user.id, request_id: pending.requestId, password_hash: c.newPasswordHash } },
  ];
  if (pending.channel === 'email' && !user.emailVerified && user.email !== null) {
    events.push({ type: 'EmailVerified', data: { user_id: user.id, request_id: pending.requestId } });
  }
  if (pending.channel === 'phone' && !user.phoneVerified && user.phone !== null) {
    events.push({ type: 'PhoneVerified', data: { user_id: user.id, request_id: pending.requestId } });
  }
  return events;
}

export function decideVerify(state: User, kind: ResetChannel, c: Redeem): UserEvent[] {
  const { user, pending } = usablePending(state, kind, c.now);
  if (!c.matches(pending)) return failed(user, pending);
  const data = { user_id: user.id, request_id: pending.requestId };
  return [kind === 'email' ? { type: 'EmailVerified', data } : { type: 'PhoneVerified', data }];
}

/**
 * The verification request that follows events adding an email (a registration, a change):
 * [] when they add none.
 */
export function emailVerificationAfter(events: readonly UserEvent[], issue: () => Issue): UserEvent[] {
  const last = events.at(-1);
  const added = events.map((e) => (e.type === 'UserRegistered' || e.type === 'EmailChanged' ? e.data.email : undefined))
    .filter((x): x is string | null => x !== undefined).at(-1);
  if (!last || added === undefined || added === null) return [];
  const { requestId, tokenHash, expiresAt } = issue();
  return [{
    type: 'EmailVerificationRequested',
    data: { user_id: last.data.user_id, request_id: requestId, token_hash: tokenHash, expires_at: expiresAt.toISOString() },
  }];
}

/** Marks identifiers verified without a message (an operator vouches: CLI, bootstrap admin). */
export function decideVouch(state: Pick<ExistingUser, 'id' | 'email' | 'phone' | 'emailVerified' | 'phoneVerified'>): UserEvent[] {
  const events: UserEvent[] = [];
  if (state.email !== null && !state.emailVerified) events.push({ type: 'EmailVerified', data: { user_id: state.id, request_id: null } });
  if (state.phone !== null && !state.phoneVerified) events.push({ type: 'PhoneVerified', data: { user_id: state.id, request_id: null } });
  return events;
}
