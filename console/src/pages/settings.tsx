/** Run-time settings (each change a SettingsChanged event, shown back below) and the signing keys. */
import { useEffect, useState } from 'preact/hooks';
import { api } from '../api.js';
import type { TailEvent } from '../sse.js';
import { EventRow, Loading, NoticeLine, Section, Time, useAction, useLoad } from '../ui.js';

interface Settings {
  access_token_ttl_seconds: number;
  refresh_token_ttl_seconds: number;
  sliding_access_tokens: boolean;
  refresh_reuse_grace_seconds: number;
  mfa_required_roles: string[];
}
interface Key { kid: string; alg: string; status: string; created_at?: string | null; [more: string]: unknown }

const NUMBERS: { key: 'access_token_ttl_seconds' | 'refresh_token_ttl_seconds' | 'refresh_reuse_grace_seconds'; label: string; min: number; max: number; help: string }[] = [
  { key: 'access_token_ttl_seconds', label: 'Access token lifetime (seconds)', min: 10, max: 86400, help: '10 to 86,400; new tokens use it at once.' },
  { key: 'refresh_token_ttl_seconds', label: 'Refresh token lifetime (seconds)', min: 60, max: 31536000, help: '60 to 31,536,000.' },
  { key: 'refresh_reuse_grace_seconds', label: 'Refresh reuse grace (seconds)', min: 0, max: 60, help: '0 to 60: a rotated refresh token presented again within it gets a fresh pair instead of revoking the session.' },
];

export function SettingsPage() {
  const settings = useLoad(() => api.call<Settings>('GET', '/v1/admin/settings'), []);
  const changes = useLoad(async () => (await api.call<{ events: TailEvent[] }>('GET', '/v1/admin/streams/settings?limit=1000').catch(() => ({ events: [] }))).events, []);
  const [form, setForm] = useState<Settings | null>(null);
  const [roles, setRoles] = useState('');
  const { busy, notice, run } = useAction();
  useEffect(() => {
    if (settings.data) {
      setForm(settings.data);
      setRoles(settings.data.mfa_required_roles.join(', '));
    }
  }, [settings.data]);

  const save = (e: Event): void => {
    e.preventDefault();
    if (!form || !settings.data) return;
    const wanted: Settings = { ...form, mfa_required_roles: roles.split(',').map((r) => r.trim()).filter((r) => r !== '') };
    const patch: Partial<Settings> = {};
    for (const key of Object.keys(wanted) as (keyof Settings)[]) {
      if (JSON.stringify(wanted[key]) !== JSON.stringify(settings.data[key])) (patch as Record<string, unknown>)[key] = wanted[key];
    }
    if (Object.keys(patch).length === 0) {
      void run('Nothing changed.', async () => undefined);
      return;
    }
    void run('Saved: a SettingsChanged event, shown below.', () => api.call('PATCH', '/v1/admin/settings', patch)).then((ok) => {
      if (ok) {
        settings.reload();
        changes.reload();
      }
    });
  };

  return (
    <>
      <h1 tabIndex={-1}>Settings</h1>
      <Section title="Tokens">
        {form === null ? <Loading error={settings.error} /> : (
          <form class="settings" onSubmit={save}>
            {NUMBERS.map((n) => (
              <div key={n.key}>
                <label for={n.key}>{n.label}</label>
                <input id={n.key} type="number" required min={n.min} max={n.max} step={1} value={form[n.key]} aria-describedby={`${n.key}-help`}
                  onInput={(e) => setForm({ ...form, [n.key]: e.currentTarget.valueAsNumber })} />
                <small id={`${n.key}-help`}>{n.help}</small>
              </div>
            ))}
            <div>
              <label class="inline">
                <input id="sliding_access_tokens" type="checkbox" checked={form.sliding_access_tokens}
                  onChange={(e) => setForm({ ...form, sliding_access_tokens: e.currentTarget.checked })} /> Sliding access tokens
              </label>
              <small>Authenticated answers carry X-New-Access-Token.</small>
            </div>
            <div>
              <label for="mfa_required_roles">Roles that need a second factor</label>
              <input id="mfa_required_roles" value={roles} placeholder="admin" aria-describedby="mfa-roles-help" onInput={(e) => setRoles(e.currentTarget.value)} />
              <small id="mfa-roles-help">Comma-separated; tokens carry these roles only after a second factor.</small>
            </div>
            <button type="submit" disabled={busy}>Save settings</button>
            <NoticeLine notice={notice} />
          </form>
        )}
      </Section>
      <Section title="Changes">
        {changes.data === null ? <Loading error={changes.error} /> : changes.data.length === 0 ? <p>No change since the start: the environment's values hold.</p> : (
          <ol class="events" reversed>{[...changes.data].reverse().slice(0, 20).map((e) => <EventRow key={e.id} event={e} />)}</ol>
        )}
      </Section>
      <SigningKeys />
    </>
  );
}

function SigningKeys() {
  const keys = useLoad(() => api.call<{ keys: Key[] }>('GET', '/v1/admin/signing-keys'), []);
  const { busy, notice, run } = useAction();
  return (
    <Section title="Signing keys">
      {keys.data === null ? <Loading error={keys.error} /> : (
        <div class="scroll">
          <table>
            <caption class="visually-hidden">Keys published in the JWKS; only public parts are shown</caption>
            <thead><tr><th scope="col">Key id</th><th scope="col">Algorithm</th><th scope="col">Status</th><th scope="col">Created</th></tr></thead>
            <tbody>
              {keys.data.keys.map((k) => (
                <tr key={k.kid}><td><code>{k.kid}</code></td><td>{k.alg}</td><td><span class={`badge ${k.status === 'current' ? 'active' : ''}`}>{k.status}</span></td><td><Time iso={k.created_at ?? null} /></td></tr>
              ))}
            </tbody>
          </table>
        </div>
      )}
      <p>
        <button type="button" disabled={busy} onClick={() => void run('Rotated: the next key signs from now on; the old one keeps verifying.',
          () => api.call('POST', '/v1/admin/signing-keys/rotate')).then(() => keys.reload())}>Rotate signing key</button>
      </p>
      <NoticeLine notice={notice} />
    </Section>
  );
}
