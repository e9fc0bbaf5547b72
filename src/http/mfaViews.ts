/** Second factors as the API shows them: what they are and when used, never a secret or a key. */
import type { MfaSummary } from '../commands/mfa/factors.js';
import type { Factor } from '../domain/mfa/state.js';
import type { FactorT } from './schemas/mfa.js';

export function factorView(f: Factor): FactorT {
  const base = {
    id: f.id, type: f.kind, label: f.label, created_at: f.createdAt.toISOString(), last_used_at: f.lastUsedAt?.toISOString() ?? null,
  };
  return f.kind === 'webauthn' ? { ...base, transports: [...f.transports], backed_up: f.backedUp } : base;
}

export const factorListView = (s: MfaSummary) => ({
  factors: s.factors.map(factorView),
  recovery_codes_left: s.recoveryCodesLeft,
  recovery_codes_generated_at: s.recoveryCodesGeneratedAt?.toISOString() ?? null,
});
