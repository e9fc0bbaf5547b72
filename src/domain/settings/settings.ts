/** Run-time settings, folded from the `settings` stream over the configured defaults. */
import { ValidationError } from '../errors.js';
import type { Recorded, SettingsChanged, SettingsValues } from '../events.js';
import type { Aggregate } from '../decider.js';
import { checkRole } from '../user/user.js';

export type Settings = SettingsValues & { revision: bigint | null };

/** The longest access-token lifetime anyone may set (a day): key retirement and the revocation window rest on it. */
export const MAX_ACCESS_TOKEN_TTL_SECONDS = 86_400;

/**
 * How long a revoked session must stay known to the token checkers: longer than any access
 * token can live (MAX_ACCESS_TOKEN_TTL_SECONDS) with an hour of slack for clock skew.
 */
export const REVOCATION_HORIZON_MS = (MAX_ACCESS_TOKEN_TTL_SECONDS + 3600) * 1000;

export const SETTINGS_BOUNDS = {
  access_token_ttl_seconds: { min: 10, max: MAX_ACCESS_TOKEN_TTL_SECONDS },
  refresh_token_ttl_seconds: { min: 60, max: 31_536_000 },
  refresh_reuse_grace_seconds: { min: 0, max: 60 },
} as const;

export function evolveSettings(state: Settings, event: Recorded<SettingsChanged>): Settings {
  return { ...state, ...definedOnly(event.data), revision: event.revision };
}

/** `values` with the settings a change sets (the fields it leaves out keep their value). */
export const overlaySettings = (values: SettingsValues, change: Partial<SettingsValues>): SettingsValues =>
  ({ ...values, ...definedOnly(change) });

function definedOnly(p: Partial<SettingsValues>): Partial<SettingsValues> {
  const out: Partial<SettingsValues> = {};
  if (p.access_token_ttl_seconds !== undefined) out.access_token_ttl_seconds = p.access_token_ttl_seconds;
  if (p.refresh_token_ttl_seconds !== undefined) out.refresh_token_ttl_seconds = p.refresh_token_ttl_seconds;
  if (p.sliding_access_tokens !== undefined) out.sliding_access_tokens = p.sliding_access_tokens;
  if (p.refresh_reuse_grace_seconds !== undefined) out.refresh_reuse_grace_seconds = p.refresh_reuse_grace_seconds;
  if (p.mfa_required_roles !== undefined) out.mfa_required_roles = [...new Set(p.mfa_required_roles)].sort();
  return out;
}

export function decideChangeSettings(state: Settings, change: Partial<SettingsValues>): SettingsChanged[] {
  for (const key of ['access_token_ttl_seconds', 'refresh_token_ttl_seconds', 'refresh_reuse_grace_seconds'] as const) {
    const v = change[key];
    if (v === undefined) continue;
    const { min, max } = SETTINGS_BOUNDS[key];
    if (!Number.isInteger(v) || v < min || v > max) throw new ValidationError(`/${key}`, `must be an integer from ${min} to ${max}`);
  }
  if (change.mfa_required_roles !== undefined) {
    if (change.mfa_required_roles.length > 32) throw new ValidationError('/mfa_required_roles', 'at most 32 roles');
    change.mfa_required_roles.forEach((role, i) => {
      try {
        checkRole(role);
      } catch (e) {
        throw e instanceof ValidationError ? new ValidationError(`/mfa_required_roles/${i}`, e.message) : e;
      }
    });
  }
  const effective = definedOnly(change);
  const same = (a: unknown, b: unknown) => (Array.isArray(a) ? JSON.stringify(a) === JSON.stringify(b) : a === b);
  const changed = Object.fromEntries(
    Object.entries(effective).filter(([k, v]) => !same(state[k as keyof SettingsValues], v)),
  ) as Partial<SettingsValues>;
  return Object.keys(changed).length === 0 ? [] : [{ type: 'SettingsChanged', data: changed }];
}

export const settingsAggregate = (defaults: SettingsValues): Aggregate<Settings, SettingsChanged> => ({
  initial: () => ({ ...defaults, revision: null }),
  evolve: evolveSettings,
});
