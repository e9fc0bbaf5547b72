/** Users: search (email, phone, first or last name: a case-insensitive substring) and pages. */
import { useEffect, useState } from 'preact/hooks';
import { api, type User } from '../api.js';
import { go } from '../router.js';
import { Loading, Time, usePaged } from '../ui.js';

interface UserPage { users: User[]; next_cursor: string | null }

export function displayName(user: User): string {
  const name = `${user.first_name} ${user.last_name}`.trim();
  return name || (user.email ?? user.phone ?? user.id);
}

export function UsersPage({ query }: { query: string }) {
  const [text, setText] = useState(query);
  useEffect(() => setText(query), [query]);
  const list = usePaged<User>(async (cursor) => {
    const params = new URLSearchParams({ limit: '50' });
    if (query) params.set('query', query);
    if (cursor) params.set('cursor', cursor);
    const page = await api.call<UserPage>('GET', `/v1/admin/users?${params}`);
    return { items: page.users, next: page.next_cursor };
  }, [query]);
  const { items: users, next: cursor, error } = list;

  return (
    <>
      <h1 tabIndex={-1}>Users</h1>
      <form role="search" class="row" onSubmit={(e) => { e.preventDefault(); go('users', { query: text.trim() }); }}>
        <label for="user-query">Search users</label>
        <input id="user-query" type="search" value={text} placeholder="email, phone or name" onInput={(e) => setText(e.currentTarget.value)} />
        <button type="submit">Search</button>
      </form>
      {users === null ? <Loading error={error} /> : (
        <>
          <p role="status" class="muted">{users.length === 0 ? 'No user matches.' : `${users.length}${cursor ? '+' : ''} users`}</p>
          <div class="scroll">
            <table>
              <caption class="visually-hidden">Users matching the search</caption>
              <thead><tr><th scope="col">Name</th><th scope="col">Email</th><th scope="col">Phone</th><th scope="col">Status</th><th scope="col">Roles</th><th scope="col">Created</th></tr></thead>
              <tbody>
                {users.map((u) => (
                  <tr key={u.id}>
                    <td><a href={`#/users/${u.id}`}>{displayName(u)}</a></td>
                    <td>{u.email ?? '—'}</td>
                    <td>{u.phone ?? '—'}</td>
                    <td><span class={`badge ${u.status}`}>{u.status}</span></td>
                    <td>{u.roles.join(', ')}</td>
                    <td><Time iso={u.created_at} /></td>
                  </tr>
                ))}
              </tbody>
            </table>
          </div>
          {cursor && <button type="button" class="secondary" onClick={list.more}>More users</button>}
          {error && <p class="notice error" role="alert">{error}</p>}
        </>
      )}
    </>
  );
}
