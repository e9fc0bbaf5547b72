/** What an admin can do to a user: disable/enable, roles, reset mail, second factors, sessions, erasure. */
import { useState } from 'preact/hooks';
import { api } from '../api.js';
import { go } from '../router.js';
import { NoticeLine, Section, Time, useAction } from '../ui.js';
import type { AdminUser } from './user.js';

const path = (user: AdminUser, rest = ''): string => `/v1/admin/users/${encodeURIComponent(user.id)}${rest}`;

export function UserActions({ user, factors, changed }: { user: AdminUser; factors: number; changed: () => void }) {
  const { busy, notice, run } = useAction();
  const [role, setRole] = useState('');
  const [confirm, setConfirm] = useState('');
  const [erasing, setErasing] = useState(false);
  // What the operator types to erase: the email, else the phone, else the id.
  const word = user.email ?? user.phone ?? user.id;

  const act = async (label: string, method: string, rest: string, body?: unknown): Promise<void> => {
    if (await run(label, () => api.call(method, path(user, rest), body))) changed();
  };

  return (
    <Section title="Actions">
      <div class="actions">
        {user.status === 'active'
          ? <button type="button" class="danger" disabled={busy} onClick={() => void act('Disabled: every session was revoked.', 'POST', '/disable')}>Disable</button>
          : <button type="button" disabled={busy} onClick={() => void act('Enabled.', 'POST', '/enable')}>Enable</button>}
        <button type="button" class="secondary" disabled={busy || (!user.email && !user.phone)}
          onClick={() => void act('A password reset message is on its way.', 'POST', '/password-reset')}>Send password reset</button>
        {factors > 0 && (
          <button type="button" class="secondary" disabled={busy}
            onClick={() => void act('Second factors reset.', 'DELETE', '/mfa')}>Reset second factors</button>
        )}
      </div>

      <h3>Roles</h3>
      <ul class="roles">
        {user.roles.map((r) => (
          <li key={r}>
            <span class="badge">{r}</span>{' '}
            <button type="button" class="link" disabled={busy} aria-label={`Revoke role ${r}`}
              onClick={() => void act(`Role ${r} revoked.`, 'DELETE', `/roles/${encodeURIComponent(r)}`)}>revoke</button>
          </li>
        ))}
      </ul>
      <form class="row" onSubmit={(e) => { e.preventDefault(); if (role.trim()) void act(`Role ${role.trim()} granted.`, 'POST', '/roles', { role: role.trim() }).then(() => setRole('')); }}>
        <label for="grant-role">Grant a role</label>
        <input id="grant-role" value={role} onInput={(e) => setRole(e.currentTarget.value)} placeholder="e.g. admin" />
        <button type="submit" disabled={busy || role.trim() === ''}>Grant</button>
      </form>

      <h3>Erase</h3>
      {!erasing ? (
        <button type="button" class="danger" onClick={() => setErasing(true)}>Erase this user…</button>
      ) : (
        <form class="confirm" onSubmit={(e) => {
          e.preventDefault();
          if (confirm !== word) return;
          void run('Erased: the personal data is unreadable everywhere.', () => api.call('DELETE', path(user))).then((ok) => {
            if (ok) go('users');
          });
        }}>
          <p>Erasure destroys the user's key: their personal data becomes unreadable in every event and read model. It cannot be undone.</p>
          <label for="erase-confirm">Type <strong>{word}</strong> to confirm</label>
          <input id="erase-confirm" value={confirm} autoComplete="off" onInput={(e) => setConfirm(e.currentTarget.value)} />
          <button type="submit" class="danger" disabled={busy || confirm !== word}>Erase</button>{' '}
          <button type="button" class="secondary" onClick={() => { setErasing(false); setConfirm(''); }}>Cancel</button>
        </form>
      )}
      <NoticeLine notice={notice} />
    </Section>
  );
}

export function SessionList({ user, changed }: { user: AdminUser; changed: () => void }) {
  const { busy, notice, run } = useAction();
  if (user.sessions.length === 0) return <p>No active session.</p>;
  return (
    <>
      <div class="scroll">
        <table>
          <caption class="visually-hidden">Active sessions, newest first</caption>
          <thead><tr><th scope="col">Session</th><th scope="col">Started</th><th scope="col">Last used</th><th scope="col">Expires</th><th scope="col">IP</th><th scope="col">User agent</th><th scope="col"><span class="visually-hidden">Action</span></th></tr></thead>
          <tbody>
            {user.sessions.map((s) => (
              <tr key={s.id}>
                <td><a href={`#/streams/session-${s.id}`}><code>{s.id.slice(0, 8)}</code></a></td>
                <td><Time iso={s.created_at} /></td><td><Time iso={s.last_used_at} /></td><td><Time iso={s.expires_at} /></td>
                <td>{s.ip ?? '—'}</td><td class="wrap">{s.user_agent ?? '—'}</td>
                <td>
                  <button type="button" class="link" disabled={busy} aria-label={`Revoke session ${s.id.slice(0, 8)}`}
                    onClick={() => void run('Session revoked.', () => api.call('DELETE', path(user, `/sessions/${s.id}`))).then((ok) => ok && changed())}>
                    Revoke
                  </button>
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      </div>
      <NoticeLine notice={notice} />
    </>
  );
}
