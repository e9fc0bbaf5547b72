/**
 * The global feed in log order, a page at a time after a position. Types are filtered by
 * the service (`types=`); the stream filter keeps the events whose stream id contains the
 * text (a whole stream id opens that stream's own view).
 */
import { useEffect, useState } from 'preact/hooks';
import { api } from '../api.js';
import { go } from '../router.js';
import type { TailEvent } from '../sse.js';
import { EventRow, Loading, usePaged } from '../ui.js';

interface EventsPageT { events: TailEvent[]; next_from: string | null }

export function EventsPage({ types, stream, from }: { types: string; stream: string; from: string }) {
  const [form, setForm] = useState({ types, stream, from });
  useEffect(() => setForm({ types, stream, from }), [types, stream, from]);
  const list = usePaged<TailEvent>(async (cursor) => {
    const params = new URLSearchParams({ limit: '200' });
    if (types.trim()) params.set('types', types.replace(/\s+/g, ''));
    const after = cursor ?? from;
    if (after) params.set('from', after);
    const page = await api.call<EventsPageT>('GET', `/v1/admin/events?${params}`);
    return { items: page.events, next: page.next_from };
  }, [types, from]);
  const { items: events, next, error } = list;

  const shown = (events ?? []).filter((e) => stream === '' || e.stream_id.includes(stream));
  return (
    <>
      <h1 tabIndex={-1}>Events</h1>
      <form class="filters" onSubmit={(e) => { e.preventDefault(); go('events', { types: form.types.trim(), stream: form.stream.trim(), from: form.from.trim() }); }}>
        <div>
          <label for="filter-types">Types</label>
          <input id="filter-types" value={form.types} placeholder="UserRegistered,SessionStarted" aria-describedby="filter-types-help"
            onInput={(e) => setForm({ ...form, types: e.currentTarget.value })} />
          <small id="filter-types-help">Comma-separated event names; empty for all.</small>
        </div>
        <div>
          <label for="filter-stream">Stream</label>
          <input id="filter-stream" value={form.stream} placeholder="user-… or session-…" onInput={(e) => setForm({ ...form, stream: e.currentTarget.value })} />
        </div>
        <div>
          <label for="filter-from">After position</label>
          <input id="filter-from" value={form.from} inputMode="numeric" pattern="[0-9]*" onInput={(e) => setForm({ ...form, from: e.currentTarget.value })} />
        </div>
        <button type="submit">Filter</button>
        {form.stream.trim() !== '' && (
          <button type="button" class="secondary" onClick={() => go(`streams/${encodeURIComponent(form.stream.trim())}`)}>Open stream</button>
        )}
      </form>
      {events === null ? <Loading error={error} /> : (
        <>
          <p role="status" class="muted">
            {shown.length} of {events.length} events loaded{stream ? ` are in streams containing “${stream}”` : ''}{next ? '; there are more' : '; the end of the log'}.
          </p>
          <ol class="events">{shown.map((e) => <EventRow key={e.id} event={e} />)}</ol>
          {next && <button type="button" class="secondary" onClick={list.more}>Load more</button>}
          {error && <p class="notice error" role="alert">{error}</p>}
        </>
      )}
    </>
  );
}
