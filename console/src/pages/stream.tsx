/** One stream: every event with its data and metadata, redacted exactly as the admin API redacts. */
import { api } from '../api.js';
import type { TailEvent } from '../sse.js';
import { EventRow, Loading, usePaged } from '../ui.js';

export function StreamPage({ stream }: { stream: string }) {
  const list = usePaged<TailEvent>(async (cursor) => {
    const page = await api.call<{ events: TailEvent[]; next_from: string | null }>(
      'GET', `/v1/admin/streams/${encodeURIComponent(stream)}?from=${cursor ?? '0'}&limit=500`);
    return { items: page.events, next: page.next_from };
  }, [stream]);
  const { items: events, next, error } = list;

  const owner = /^user-(.+)$/.exec(stream)?.[1] ?? /^mfa-(.+)$/.exec(stream)?.[1];
  return (
    <>
      <p><a href="#/events">← Events</a></p>
      <h1 tabIndex={-1}>Stream <code>{stream}</code></h1>
      {owner && <p><a href={`#/users/${owner}`}>Open the user</a></p>}
      {events === null ? <Loading error={error} /> : (
        <>
          <p role="status" class="muted">{events.length} events{next ? ' (more below)' : ''}, oldest first.</p>
          <ol class="events">{events.map((e) => <EventRow key={e.id} event={e} open={events.length <= 20} />)}</ol>
          {next && <button type="button" class="secondary" onClick={list.more}>Load more</button>}
          {error && <p class="notice error" role="alert">{error}</p>}
        </>
      )}
    </>
  );
}
