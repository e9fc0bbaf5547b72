/** Second factors: given events on `mfa-<user>`, when a decision, then events or an error code. */
import t from 'tap';
import type { MfaEvent, MfaFactorAdded } from '../../../src/domain/events.js';
import {
  decideConfirmTotp, decideGenerateCodes, decideIssueChallenge, decideRemoveFactor, decideReset, decideStartTotp, decideVerify,
  openChallenge, type Check,
} from '../../../src/domain/mfa/decide.js';
import { methodsOf, mfaAggregate, recoveryCodesLeft, MAX_FACTORS } from '../../../src/domain/mfa/state.js';
import { afterSecondFactor, isMultiFactor, tokenRoles } from '../../../src/domain/mfa/amr.js';
import { ago, at, given, SPEC_NOW } from '../../helpers/spec.js';

const U = '0b4e7a52-6c1a-4f7e-9d56-0c7b3a9f1e01';
const F = 'f1f1f1f1-0000-4000-8000-000000000001';
const Mfa = mfaAggregate(3);
const policy = { maxFailures: 3, windowSeconds: 900 };
const inFuture = new Date(SPEC_NOW.getTime() + 600_000);

const started = (expiresAt = inFuture): MfaEvent => ({
  type: 'TotpEnrolmentStarted', data: { user_id: U, factor_id: F, label: 'phone', secret: 'SECRET', expires_at: expiresAt.toISOString() },
});
const totpAdded = (step = 100): MfaFactorAdded => ({
  type: 'MfaFactorAdded', data: { user_id: U, factor_id: F, kind: 'totp', label: 'phone', secret: 'SECRET', totp_step: step },
});
const codes: MfaEvent = { type: 'RecoveryCodesGenerated', data: { user_id: U, batch_id: 'b1', code_hashes: ['h0', 'h1'], count: 2 } };
const failed = (): MfaEvent => ({ type: 'MfaFailed', data: { user_id: U, purpose: 'login', method: 'totp', challenge_id: null, reason: 'wrong_code' } });
const verify = (check: Check, challengeId: string | null = null) => (s: Parameters<typeof decideVerify>[0], now: Date) =>
  [decideVerify(s, policy, { userId: U, purpose: 'login', method: 'totp', challengeId, now, check })];

t.test('TOTP enrolment: a first code confirms it; the first factor brings recovery codes', async (t) => {
  given(t, Mfa, []).when((s) => decideStartTotp(s, { userId: U, factorId: F, label: 'phone', secret: 'SECRET', expiresAt: inFuture }))
    .then([started()]);
  const newCodes = { batchId: 'b1', hashes: ['h0', 'h1'] };
  const w = given(t, Mfa, [started()]).when((s, now) => decideConfirmTotp(s, { userId: U, factorId: F, step: 100, now, codes: newCodes }));
  w.then([totpAdded(100), codes]);
  t.same(methodsOf(w.stateAfter), ['totp', 'recovery_code']);
  t.equal(w.stateAfter.pending.size, 0, 'no longer pending');
  given(t, Mfa, [started()]).when((s, now) => decideConfirmTotp(s, { userId: U, factorId: F, step: null, now, codes: newCodes }))
    .thenThrows({ code: 'invalid_code' }, 'a wrong code');
  given(t, Mfa, [started(ago(1))]).when((s, now) => decideConfirmTotp(s, { userId: U, factorId: F, step: 100, now, codes: null }))
    .thenThrows({ code: 'not_found' }, 'an expired enrolment');
  given(t, Mfa, [codes, started()]).when((s, now) => decideConfirmTotp(s, { userId: U, factorId: F, step: 7, now, codes: newCodes }))
    .then([totpAdded(7)], 'codes already there: none made');
  const many = Array.from({ length: MAX_FACTORS }, (_, i): MfaEvent => ({ ...totpAdded(), data: { ...totpAdded().data, factor_id: `x${i}` } }));
  given(t, Mfa, many).when((s) => decideStartTotp(s, { userId: U, factorId: F, label: '', secret: 'S', expiresAt: inFuture }))
    .thenThrows({ code: 'conflict' }, `at most ${MAX_FACTORS} factors`);
});

t.test('a TOTP step is accepted once: never the same or an earlier step again', async (t) => {
  const ok = given(t, Mfa, [totpAdded(100)]).when(verify({ ok: true, factorId: F, totpStep: 101 }));
  ok.then([{ type: 'MfaVerified', data: { user_id: U, purpose: 'login', method: 'totp', challenge_id: null, factor_id: F, totp_step: 101 } }]);
  const used = ok.stateAfter.factors.get(F);
  t.equal(used?.kind === 'totp' ? used.lastStep : -1, 101);
  t.same(used?.lastUsedAt, SPEC_NOW);
  for (const step of [100, 99]) {
    given(t, Mfa, [totpAdded(100)]).when(verify({ ok: true, factorId: F, totpStep: step })).then([{
      type: 'MfaFailed', data: { user_id: U, purpose: 'login', method: 'totp', challenge_id: null, reason: 'replayed_code' },
    }], `step ${step} after 100`);
  }
  given(t, Mfa, [totpAdded()]).when(verify({ ok: true, factorId: 'gone', totpStep: 200 }))
    .then([{ type: 'MfaFailed', data: { user_id: U, purpose: 'login', method: 'totp', challenge_id: null, reason: 'unknown_factor' } }]);
});

t.test('the per-account throttle: failures in the window lock every method, right or wrong', async (t) => {
  given(t, Mfa, [totpAdded(), failed(), failed(), failed()]).when(verify({ ok: true, factorId: F, totpStep: 500 }))
    .thenThrows({ code: 'rate_limited' }, 'a right code too');
  const old = ago(901_000);
  given(t, Mfa, [totpAdded(), at(old, failed()), failed(), failed()]).when(verify({ ok: true, factorId: F, totpStep: 500 }))
    .then([{ type: 'MfaVerified', data: { user_id: U, purpose: 'login', method: 'totp', challenge_id: null, factor_id: F, totp_step: 500 } }],
      'a failure out of the window no longer counts');
  const e = given(t, Mfa, [totpAdded(), at(ago(60_000), failed()), failed(), failed()]).when(verify({ ok: false, reason: 'wrong_code' }))
    .thenThrows({ code: 'rate_limited' });
  t.equal((e as unknown as { retryAfterSeconds: number }).retryAfterSeconds, 840, 'until the oldest counted failure leaves the window');
});

t.test('recovery codes are single-use; new ones void the old', async (t) => {
  const w = given(t, Mfa, [totpAdded(), codes]).when((s, now) =>
    [decideVerify(s, policy, { userId: U, purpose: 'login', method: 'recovery_code', challengeId: null, now, check: { ok: true, factorId: null, recoveryIndex: 1 } })]);
  w.then([{ type: 'MfaVerified', data: { user_id: U, purpose: 'login', method: 'recovery_code', challenge_id: null, factor_id: null, recovery_batch_id: 'b1', recovery_index: 1 } }]);
  t.equal(recoveryCodesLeft(w.stateAfter), 1);
  const usedOnce: MfaEvent = { type: 'MfaVerified', data: { user_id: U, purpose: 'login', method: 'recovery_code', challenge_id: null, factor_id: null, recovery_batch_id: 'b1', recovery_index: 1 } };
  given(t, Mfa, [totpAdded(), codes, usedOnce]).when((s, now) =>
    [decideVerify(s, policy, { userId: U, purpose: 'login', method: 'recovery_code', challengeId: null, now, check: { ok: true, factorId: null, recoveryIndex: 1 } })])
    .then([{ type: 'MfaFailed', data: { user_id: U, purpose: 'login', method: 'recovery_code', challenge_id: null, reason: 'replayed_code' } }]);
  const fresh = given(t, Mfa, [totpAdded(), codes, usedOnce]).when((s) => decideGenerateCodes(s, { userId: U, codes: { batchId: 'b2', hashes: ['x', 'y', 'z'] } }));
  t.equal(recoveryCodesLeft(fresh.stateAfter), 3, 'the new batch, all unused');
  given(t, Mfa, []).when((s) => decideGenerateCodes(s, { userId: U, codes: { batchId: 'b', hashes: [] } })).thenThrows({ code: 'conflict' }, 'no factor: no codes');
});

t.test('a sign-in ticket: redeemed once, before it expires, by its own hash', async (t) => {
  const issue = given(t, Mfa, [totpAdded(), codes]).when((s) => decideIssueChallenge(s, {
    userId: U, challengeId: 'c1', ticketHash: 'th', expiresAt: new Date(SPEC_NOW.getTime() + 300_000), userRevision: 4n, via: 'login',
  }));
  const [issued] = issue.then([{ type: 'MfaChallengeIssued', data: {
    user_id: U, challenge_id: 'c1', ticket_hash: 'th', expires_at: new Date(SPEC_NOW.getTime() + 300_000).toISOString(), user_revision: '4', via: 'login', methods: ['totp', 'recovery_code'],
  } }]);
  const same = (a: string, b: string) => a === b;
  const state = issue.stateAfter;
  t.equal(openChallenge(state, { challengeId: 'c1', ticketHash: 'th', now: SPEC_NOW }, same).userRevision, 4n);
  t.throws(() => openChallenge(state, { challengeId: 'c1', ticketHash: 'other', now: SPEC_NOW }, same), { code: 'invalid_token' }, 'another ticket');
  t.throws(() => openChallenge(state, { challengeId: 'c1', ticketHash: 'th', now: new Date(SPEC_NOW.getTime() + 300_000) }, same), { code: 'invalid_token' }, 'expired');
  const redeemed = given(t, Mfa, [totpAdded(), codes, issued as MfaEvent, {
    type: 'MfaVerified', data: { user_id: U, purpose: 'login', method: 'totp', challenge_id: 'c1', factor_id: F, totp_step: 999 },
  }], { now: SPEC_NOW });
  t.throws(() => openChallenge(redeemed.state, { challengeId: 'c1', ticketHash: 'th', now: SPEC_NOW }, same), { code: 'invalid_token' }, 'used');
});

t.test('a passkey nonce is accepted once', async (t) => {
  const verified: MfaEvent = { type: 'MfaVerified', data: { user_id: U, purpose: 'passkey_login', method: 'webauthn', challenge_id: null, factor_id: null, nonce: 'n1' } };
  given(t, Mfa, [verified]).when((s, now) =>
    [decideVerify(s, policy, { userId: U, purpose: 'passkey_login', method: 'webauthn', challengeId: null, now, check: { ok: true, factorId: null, nonce: 'n1' } })])
    .then([{ type: 'MfaFailed', data: { user_id: U, purpose: 'passkey_login', method: 'webauthn', challenge_id: null, reason: 'replayed_code' } }]);
});

t.test('removing factors: the last one needs a proof and takes the recovery codes along; an admin reset clears all', async (t) => {
  given(t, Mfa, [totpAdded(), codes]).when((s) => decideRemoveFactor(s, { userId: U, factorId: F, proven: false }))
    .thenThrows({ code: 'validation_failed' });
  const w = given(t, Mfa, [totpAdded(), codes]).when((s) => decideRemoveFactor(s, { userId: U, factorId: F, proven: true }));
  w.then([
    { type: 'MfaFactorRemoved', data: { user_id: U, factor_id: F, kind: 'totp' } },
    { type: 'RecoveryCodesRevoked', data: { user_id: U, batch_id: 'b1' } },
  ]);
  t.same(methodsOf(w.stateAfter), [], 'nothing left to step up with');
  const second: MfaEvent = { ...totpAdded(), data: { ...totpAdded().data, factor_id: 'second' } };
  given(t, Mfa, [totpAdded(), second, codes]).when((s) => decideRemoveFactor(s, { userId: U, factorId: F, proven: false }))
    .then([{ type: 'MfaFactorRemoved', data: { user_id: U, factor_id: F, kind: 'totp' } }], 'not the last: the Bearer token is enough');
  given(t, Mfa, [totpAdded()]).when((s) => decideRemoveFactor(s, { userId: U, factorId: 'nope', proven: true })).thenThrows({ code: 'not_found' });
  const reset = given(t, Mfa, [totpAdded(), second, codes, started()]).when((s) => decideReset(s, U));
  reset.then([{ type: 'MfaReset', data: { user_id: U, factor_ids: [F, 'second'] } }]);
  t.same([reset.stateAfter.factors.size, reset.stateAfter.pending.size, reset.stateAfter.recovery], [0, 0, null]);
  given(t, Mfa, []).when((s) => decideReset(s, U)).then([], 'nothing to reset: nothing appended');
});

t.test('amr and the roles a token carries', async (t) => {
  t.same(afterSecondFactor('totp'), ['pwd', 'otp']);
  t.same(afterSecondFactor('recovery_code'), ['pwd', 'otp']);
  t.same(afterSecondFactor('webauthn'), ['pwd', 'hwk']);
  t.notOk(isMultiFactor(['pwd']));
  t.ok(isMultiFactor(['hwk']), 'a passkey with user verification');
  t.same(tokenRoles(['user', 'admin'], ['pwd'], ['admin']), { roles: ['user'], withheld: ['admin'] });
  t.same(tokenRoles(['user', 'admin'], ['pwd', 'otp'], ['admin']), { roles: ['user', 'admin'], withheld: [] });
  t.same(tokenRoles(['user', 'admin'], ['pwd'], []), { roles: ['user', 'admin'], withheld: [] });
});
