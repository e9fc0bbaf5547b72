/**
 * A user's second factors, folded from `mfa-<user_id>`: confirmed factors, TOTP enrolments
 * waiting for their first code, the current recovery codes, open sign-in tickets, and what
 * keeps each factor single-use (the last TOTP step, the authenticator's counter, used
 * passkey nonces). Failed verifications are kept for the per-account throttle.
 */
import type { Aggregate } from '../decider.js';
import type { MfaEvent, MfaFactorKind, MfaMethod, Recorded } from '../events.js';

/** How long a passkey sign-in challenge is good for (its nonce is remembered twice as long). */
export const PASSKEY_CHALLENGE_TTL_MS = 300_000;
/** At most this many factors (TOTP and passkeys together) per user. */
export const MAX_FACTORS = 10;

interface FactorBase {
  id: string;
  label: string;
  createdAt: Date;
  lastUsedAt: Date | null;
}
export interface TotpFactor extends FactorBase {
  kind: 'totp';
  secret: string;
  /** The newest time step accepted: a code of this step or an earlier one is refused. */
  lastStep: number;
}
export interface WebAuthnFactor extends FactorBase {
  kind: 'webauthn';
  credentialId: string;
  publicKey: string;
  signCount: number;
  transports: string[];
  deviceType: 'singleDevice' | 'multiDevice' | null;
  backedUp: boolean;
}
export type Factor = TotpFactor | WebAuthnFactor;

export interface PendingTotp {
  id: string;
  label: string;
  secret: string;
  expiresAt: Date;
}

export interface RecoveryCodes {
  batchId: string;
  hashes: readonly string[];
  used: ReadonlySet<number>;
  generatedAt: Date;
}

export interface OpenChallenge {
  id: string;
  ticketHash: string;
  expiresAt: Date;
  userRevision: bigint;
  via: 'login' | 'oauth';
}

export interface MfaState {
  factors: ReadonlyMap<string, Factor>;
  pending: ReadonlyMap<string, PendingTotp>;
  recovery: RecoveryCodes | null;
  challenges: ReadonlyMap<string, OpenChallenge>;
  /** Passkey sign-in nonces used → when (forgotten once their challenge has expired). */
  usedNonces: ReadonlyMap<string, Date>;
  /** Times of the newest failed verifications, oldest first. */
  failures: readonly Date[];
}

export const initialMfa = (): MfaState => ({
  factors: new Map(), pending: new Map(), recovery: null, challenges: new Map(), usedNonces: new Map(), failures: [],
});

export const hasFactors = (s: MfaState): boolean => s.factors.size > 0;

export const recoveryCodesLeft = (s: MfaState): number =>
  s.recovery === null ? 0 : s.recovery.hashes.length - s.recovery.used.size;

/** What a sign-in ticket can be redeemed with. */
export function methodsOf(s: MfaState): MfaMethod[] {
  const kinds = new Set<MfaFactorKind>([...s.factors.values()].map((f) => f.kind));
  const methods: MfaMethod[] = [];
  if (kinds.has('totp')) methods.push('totp');
  if (kinds.has('webauthn')) methods.push('webauthn');
  if (recoveryCodesLeft(s) > 0) methods.push('recovery_code');
  return methods;
}

function withDeleted<K, V>(map: ReadonlyMap<K, V>, ...keys: K[]): Map<K, V> {
  const next = new Map(map);
  for (const k of keys) next.delete(k);
  return next;
}

function withSet<K, V>(map: ReadonlyMap<K, V>, key: K, value: V): Map<K, V> {
  return new Map(map).set(key, value);
}

/** Drops tickets and nonces that can no longer be presented (as of `at`). */
function pruned(s: MfaState, at: Date): MfaState {
  const t = at.getTime();
  const stale = [...s.challenges.values()].filter((c) => c.expiresAt.getTime() < t).map((c) => c.id);
  const old = [...s.usedNonces.entries()].filter(([, when]) => when.getTime() < t - 2 * PASSKEY_CHALLENGE_TTL_MS).map(([n]) => n);
  const expired = [...s.pending.values()].filter((p) => p.expiresAt.getTime() < t).map((p) => p.id);
  if (stale.length === 0 && old.length === 0 && expired.length === 0) return s;
  return {
    ...s, challenges: withDeleted(s.challenges, ...stale), usedNonces: withDeleted(s.usedNonces, ...old),
    pending: withDeleted(s.pending, ...expired),
  };
}

export function evolveMfa(keep: number, state: MfaState, e: Recorded<MfaEvent>): MfaState {
  const s = pruned(state, e.occurredAt);
  switch (e.type) {
    case 'TotpEnrolmentStarted': {
      const d = e.data;
      return { ...s, pending: withSet(s.pending, d.factor_id, { id: d.factor_id, label: d.label, secret: d.secret, expiresAt: new Date(d.expires_at) }) };
    }
    case 'MfaFactorAdded':
      return { ...s, factors: withSet(s.factors, e.data.factor_id, factorOf(e)), pending: withDeleted(s.pending, e.data.factor_id) };
    case 'MfaFactorRemoved':
      return { ...s, factors: withDeleted(s.factors, e.data.factor_id) };
    case 'MfaReset':
      return { ...initialMfa(), failures: s.failures, usedNonces: s.usedNonces };
    case 'RecoveryCodesGenerated':
      return { ...s, recovery: { batchId: e.data.batch_id, hashes: e.data.code_hashes, used: new Set(), generatedAt: e.occurredAt } };
    case 'RecoveryCodesRevoked':
      return s.recovery?.batchId === e.data.batch_id ? { ...s, recovery: null } : s;
    case 'MfaChallengeIssued': {
      const d = e.data;
      return {
        ...s,
        challenges: withSet(s.challenges, d.challenge_id, {
          id: d.challenge_id, ticketHash: d.ticket_hash, expiresAt: new Date(d.expires_at), userRevision: BigInt(d.user_revision), via: d.via,
        }),
      };
    }
    case 'MfaVerified':
      return verified(s, e);
    case 'MfaFailed':
      return { ...s, failures: [...s.failures.slice(Math.max(0, s.failures.length + 1 - keep)), e.occurredAt] };
  }
}

function factorOf(e: Recorded<Extract<MfaEvent, { type: 'MfaFactorAdded' }>>): Factor {
  const d = e.data;
  const base = { id: d.factor_id, label: d.label, createdAt: e.occurredAt, lastUsedAt: null };
  if (d.kind === 'totp') return { ...base, kind: 'totp', secret: d.secret ?? '', lastStep: d.totp_step ?? -1 };
  return {
    ...base, kind: 'webauthn', credentialId: d.credential_id ?? '', publicKey: d.public_key ?? '', signCount: d.sign_count ?? 0,
    transports: d.transports ?? [], deviceType: d.device_type ?? null, backedUp: d.backed_up ?? false,
  };
}

function verified(s: MfaState, e: Recorded<Extract<MfaEvent, { type: 'MfaVerified' }>>): MfaState {
  const d = e.data;
  let next: MfaState = d.challenge_id === null ? s : { ...s, challenges: withDeleted(s.challenges, d.challenge_id) };
  if (d.nonce !== undefined) next = { ...next, usedNonces: withSet(next.usedNonces, d.nonce, e.occurredAt) };
  if (d.recovery_index !== undefined && next.recovery && next.recovery.batchId === d.recovery_batch_id) {
    next = { ...next, recovery: { ...next.recovery, used: new Set([...next.recovery.used, d.recovery_index]) } };
  }
  const factor = d.factor_id === null ? undefined : next.factors.get(d.factor_id);
  if (factor) {
    const used: Factor = factor.kind === 'totp'
      ? { ...factor, lastUsedAt: e.occurredAt, lastStep: Math.max(factor.lastStep, d.totp_step ?? factor.lastStep) }
      : { ...factor, lastUsedAt: e.occurredAt, signCount: d.sign_count ?? factor.signCount };
    next = { ...next, factors: withSet(next.factors, factor.id, used) };
  }
  return next;
}

/** The second factors of one user; keeps the newest `keep` failures (the throttle's maxFailures). */
export const mfaAggregate = (keep: number): Aggregate<MfaState, MfaEvent> => ({
  initial: initialMfa,
  evolve: (state, e) => evolveMfa(Math.max(1, keep), state, e),
});
