/** One stream: every event with its data and metadata, redacted exactly as the admin API redacts. */
import { useEffect, useState } from 'preact/hooks';
import { api } from '../api.js';
import type { TailEvent } from '../sse.js';
import { EventRow, Loading, describe } from '../ui.js';

export function StreamPage({ stream }: { stream: string }) {
  const [events, setEvents] = useState<TailEvent[] | null>(null);
  const [next, setNext] = useState<string | null>(null);
  const [error, setError] = useState<string | null>(null);

  const load = async (from: string, append: boolean): Promise<void> => {
    try {
      const page = await api.call<{ events: TailEvent[]; next_from: string | null }>(
        'GET', `/v1/admin/streams/${encodeURIComponent(stream)}?from=${from}&limit=500`);
      setEvents((before) => (append && before ? [...before, ...page.events] : page.events));
      setNext(page.next_from);
      setError(null);
    } catch (e) {
      setError(describe(e));
    }
  };
  useEffect(() => {
    setEvents(null);
    void load('0', false);
  }, [stream]); // eslint-disable-line react-hooks/exhaustive-deps

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
          {next && <button type="button" class="secondary" onClick={() => void load(next, true)}>Load more</button>}
          {error && <p class="notice error" role="alert">{error}</p>}
        </>
      )}
    </>
  );
}
