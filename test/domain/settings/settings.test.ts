import t from 'tap';
import type { SettingsChanged, SettingsValues } from '../../../src/domain/events.js';
import { SETTINGS_BOUNDS, decideChangeSettings, evolveSettings, type Settings } from '../../../src/domain/settings/settings.js';
import { given, type Evolving } from '../../helpers/spec.js';

const defaults: SettingsValues = { access_token_ttl_seconds: 300, refresh_token_ttl_seconds: 2_592_000, sliding_access_tokens: false, refresh_reuse_grace_seconds: 0, mfa_required_roles: [] };
const Settings: Evolving<Settings, SettingsChanged> = { initial: () => ({ ...defaults, revision: null }), evolve: evolveSettings };
const changed = (data: Partial<SettingsValues>): SettingsChanged => ({ type: 'SettingsChanged', data });

void t.test('bounds', async (t) => {
  t.strictSame(SETTINGS_BOUNDS, {
    access_token_ttl_seconds: { min: 10, max: 86_400 },
    refresh_token_ttl_seconds: { min: 60, max: 31_536_000 },
    refresh_reuse_grace_seconds: { min: 0, max: 60 },
  });
  for (const v of [10, 86_400]) {
    given(t, Settings, []).when((s) => decideChangeSettings(s, { access_token_ttl_seconds: v }))
      .then([changed({ access_token_ttl_seconds: v })], `access ${v} is allowed`);
  }
  for (const v of [9, 86_401, 0, -1, 10.5, Number.NaN, Number.POSITIVE_INFINITY]) {
    given(t, Settings, []).when((s) => decideChangeSettings(s, { access_token_ttl_seconds: v }))
      .thenThrows({ code: 'validation_failed', path: '/access_token_ttl_seconds' }, `access ${v} is refused`);
  }
  for (const v of [60, 31_536_000]) {
    given(t, Settings, []).when((s) => decideChangeSettings(s, { refresh_token_ttl_seconds: v }))
      .then([changed({ refresh_token_ttl_seconds: v })], `refresh ${v} is allowed`);
  }
  for (const v of [59, 31_536_001, 60.1]) {
    given(t, Settings, []).when((s) => decideChangeSettings(s, { refresh_token_ttl_seconds: v }))
      .thenThrows({ code: 'validation_failed', path: '/refresh_token_ttl_seconds' }, `refresh ${v} is refused`);
  }
  given(t, Settings, []).when((s) => decideChangeSettings(s, { access_token_ttl_seconds: 60, refresh_token_ttl_seconds: 1 }))
    .thenThrows({ code: 'validation_failed', path: '/refresh_token_ttl_seconds' }, 'one bad value refuses the whole change');
});

void t.test('changes', async (t) => {
  given(t, Settings, []).when((s) => decideChangeSettings(s, { access_token_ttl_seconds: 300 })).then([], 'a no-op change');
  given(t, Settings, []).when((s) => decideChangeSettings(s, {})).then([], 'an empty change');
  given(t, Settings, []).when((s) => decideChangeSettings(s, { sliding_access_tokens: false })).then([], 'the same boolean');
  given(t, Settings, []).when((s) => decideChangeSettings(s, { access_token_ttl_seconds: 300, refresh_token_ttl_seconds: 3600, sliding_access_tokens: true }))
    .then([changed({ refresh_token_ttl_seconds: 3600, sliding_access_tokens: true })], 'only what changes is recorded');
  given(t, Settings, [changed({ access_token_ttl_seconds: 60 })]).when((s) => decideChangeSettings(s, { access_token_ttl_seconds: 60 }))
    .then([], 'a no-op against the folded state, not the defaults');
  given(t, Settings, [changed({ access_token_ttl_seconds: 60 })]).when((s) => decideChangeSettings(s, { access_token_ttl_seconds: 300 }))
    .then([changed({ access_token_ttl_seconds: 300 })], 'back to the default is a change');
});

void t.test('evolve overlays the defaults and tracks the revision', async (t) => {
  t.strictSame(given(t, Settings, []).state, { ...defaults, revision: null });
  t.strictSame(given(t, Settings, [
    changed({ access_token_ttl_seconds: 60 }),
    changed({ sliding_access_tokens: true }),
    changed({ refresh_token_ttl_seconds: 7200 }),
    changed({ refresh_reuse_grace_seconds: 10 }),
  ]).state, { access_token_ttl_seconds: 60, refresh_token_ttl_seconds: 7200, sliding_access_tokens: true, refresh_reuse_grace_seconds: 10, mfa_required_roles: [], revision: 3n });
});

void t.test('mfa_required_roles: role names, kept sorted and unique; an equal list changes nothing', async (t) => {
  given(t, Settings, []).when((s) => decideChangeSettings(s, { mfa_required_roles: ['support', 'admin', 'admin'] }))
    .then([changed({ mfa_required_roles: ['admin', 'support'] })]);
  given(t, Settings, [changed({ mfa_required_roles: ['admin'] })]).when((s) => decideChangeSettings(s, { mfa_required_roles: ['admin'] }))
    .then([], 'the same list again');
  given(t, Settings, [changed({ mfa_required_roles: ['admin'] })]).when((s) => decideChangeSettings(s, { mfa_required_roles: [] }))
    .then([changed({ mfa_required_roles: [] })], 'cleared');
  given(t, Settings, []).when((s) => decideChangeSettings(s, { mfa_required_roles: ['admin', 'Not A Role'] }))
    .thenThrows({ code: 'validation_failed', path: '/mfa_required_roles/1' });
});
