/** One user: profile, status, roles, sessions, second factors, activity and the event history behind them. */
import { api, type User } from '../api.js';
import { EventRow, Loading, Section, Time, useLoad } from '../ui.js';
import { displayName } from './users.js';
import { UserActions, SessionList } from './userActions.js';
import type { TailEvent } from '../sse.js';

export interface AdminUser extends User {
  sessions: { id: string; created_at: string; last_used_at: string; expires_at: string; user_agent: string | null; ip: string | null }[];
}
interface Factor { id: string; type: string; label: string; created_at: string; last_used_at: string | null }
interface Factors { factors: Factor[]; recovery_codes_left: number; recovery_codes_generated_at: string | null }
interface Activity { events: { type: string; occurred_at: string; session_id?: string | null; ip?: string | null; user_agent?: string | null }[] }

/** A missing read (an erased user has no factors to show) is an empty one. */
const orNull = <T,>(p: Promise<T>): Promise<T | null> => p.catch(() => null);

export function UserPage({ id }: { id: string }) {
  const user = useLoad(() => api.call<AdminUser>('GET', `/v1/admin/users/${encodeURIComponent(id)}`), [id]);
  const more = useLoad(async () => {
    const [factors, activity, history] = await Promise.all([
      orNull(api.call<Factors>('GET', `/v1/admin/users/${encodeURIComponent(id)}/mfa`)),
      orNull(api.call<Activity>('GET', `/v1/admin/users/${encodeURIComponent(id)}/activity?limit=50`)),
      orNull(api.call<{ events: TailEvent[] }>('GET', `/v1/admin/streams/user-${encodeURIComponent(id)}?limit=200`)),
    ]);
    return { factors, activity, history };
  }, [id]);
  const reload = (): void => {
    user.reload();
    more.reload();
  };

  if (user.data === null) {
    return (
      <>
        <h1 tabIndex={-1}>User</h1>
        <Loading error={user.error} />
      </>
    );
  }
  const u = user.data;
  return (
    <>
      <p><a href="#/users">← Users</a></p>
      <h1 tabIndex={-1}>{displayName(u)} <span class={`badge ${u.status}`}>{u.status}</span></h1>
      <p class="muted">user id <code>{u.id}</code></p>

      <Section title="Profile">
        <dl class="facts">
          <dt>Email</dt><dd>{u.email ?? '—'} {u.email && <span class={`badge ${u.email_verified ? 'active' : 'pending'}`}>{u.email_verified ? 'verified' : 'unverified'}</span>}</dd>
          <dt>Phone</dt><dd>{u.phone ?? '—'} {u.phone && <span class={`badge ${u.phone_verified ? 'active' : 'pending'}`}>{u.phone_verified ? 'verified' : 'unverified'}</span>}</dd>
          <dt>First name</dt><dd>{u.first_name || '—'}</dd>
          <dt>Last name</dt><dd>{u.last_name || '—'}</dd>
          <dt>Roles</dt><dd>{u.roles.join(', ') || '—'}</dd>
          <dt>Created</dt><dd><Time iso={u.created_at} /></dd>
          <dt>Updated</dt><dd><Time iso={u.updated_at} /></dd>
        </dl>
      </Section>

      {u.status !== 'erased' && <UserActions user={u} factors={more.data?.factors?.factors.length ?? 0} changed={reload} />}

      <Section title="Sessions">
        <SessionList user={u} changed={reload} />
      </Section>

      <Section title="Second factors">
        {more.data === null ? <Loading error={more.error} /> : more.data.factors === null ? <p>—</p> : (
          <>
            {more.data.factors.factors.length === 0 ? <p>No second factor.</p> : (
              <ul>
                {more.data.factors.factors.map((f) => (
                  <li key={f.id}>{f.type} “{f.label}”, added <Time iso={f.created_at} />, last used <Time iso={f.last_used_at} /></li>
                ))}
              </ul>
            )}
            <p class="muted">Recovery codes left: {more.data.factors.recovery_codes_left}</p>
          </>
        )}
      </Section>

      <Section title="Activity">
        {more.data === null ? <Loading error={more.error} /> : (more.data.activity?.events.length ?? 0) === 0 ? <p>No activity.</p> : (
          <div class="scroll">
            <table>
              <caption class="visually-hidden">The user's activity, newest first</caption>
              <thead><tr><th scope="col">Event</th><th scope="col">When</th><th scope="col">Session</th><th scope="col">IP</th><th scope="col">User agent</th></tr></thead>
              <tbody>
                {more.data.activity?.events.map((e, i) => (
                  <tr key={i}>
                    <td>{e.type}</td><td><Time iso={e.occurred_at} /></td>
                    <td>{e.session_id ? <a href={`#/streams/session-${e.session_id}`}><code>{e.session_id.slice(0, 8)}</code></a> : '—'}</td>
                    <td>{e.ip ?? '—'}</td><td class="wrap">{e.user_agent ?? '—'}</td>
                  </tr>
                ))}
              </tbody>
            </table>
          </div>
        )}
      </Section>

      <Section title="Event history">
        <p>
          Streams: <a href={`#/streams/user-${u.id}`}>user-{u.id}</a>, <a href={`#/streams/mfa-${u.id}`}>mfa-{u.id}</a>
        </p>
        {more.data === null ? <Loading error={more.error} /> : (
          <ol class="events" reversed>
            {[...(more.data.history?.events ?? [])].reverse().map((e) => <EventRow key={e.id} event={e} />)}
          </ol>
        )}
      </Section>
    </>
  );
}
