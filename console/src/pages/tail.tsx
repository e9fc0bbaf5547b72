/**
 * The live tail over SSE. Pause closes the stream and keeps the last id; resume opens it
 * again from there (Last-Event-ID), so nothing is lost or shown twice. When the service
 * ends the stream for overflow (this page fell behind) or an expired token, the page says
 * so and resumes from the last id by itself.
 */
import { useEffect, useRef, useState } from 'preact/hooks';
import { api } from '../api.js';
import { openTail, type TailEvent } from '../sse.js';
import { EventRow, NoticeLine, type Notice } from '../ui.js';

const KEEP = 500;

type Start = 'now' | 'beginning';

async function headPosition(): Promise<string> {
  const list = await api.call<{ projections: { head: string }[] }>('GET', '/v1/admin/projections');
  return list.projections.map((p) => BigInt(p.head)).reduce((a, b) => (b > a ? b : a), 0n).toString();
}

export function TailPage() {
  const [events, setEvents] = useState<TailEvent[]>([]);
  const [received, setReceived] = useState(0);
  const [state, setState] = useState<'connecting' | 'live' | 'paused'>('connecting');
  const [notice, setNotice] = useState<Notice>(null);
  const [overflows, setOverflows] = useState(0);
  const [types, setTypes] = useState('');
  const [start, setStart] = useState<Start>('now');
  const last = useRef<string | null>(null);
  const stop = useRef<(() => void) | null>(null);
  const applied = useRef({ types: '', start: 'now' as Start });

  const connect = (from: string | null): void => {
    stop.current?.();
    setState('connecting');
    const wanted = applied.current.types.split(',').map((t) => t.trim()).filter((t) => t !== '');
    stop.current = openTail(from, wanted, {
      onOpen: () => setState('live'),
      onEvent: (event) => {
        last.current = event.position;
        setReceived((n) => n + 1);
        setEvents((before) => [event, ...before].slice(0, KEEP));
      },
      onEnd: (reason, lastId) => {
        if (lastId !== null) last.current = lastId;
        if (reason === 'overflow') {
          setOverflows((n) => n + 1);
          setNotice({ kind: 'error', text: `Overflow: this page fell behind the log after position ${lastId ?? '—'}. Resumed from there; nothing was lost.` });
        } else {
          setNotice({ kind: 'ok', text: `The service ended the stream (${reason}); resuming after position ${last.current ?? '—'}.` });
        }
        const resume = (): void => connect(last.current);
        // An expired token: refresh first. Anything else: resume after a short pause.
        if (reason === 'token_expired') void api.refresh().then(resume, resume);
        else setTimeout(resume, reason === 'overflow' ? 0 : 1000);
      },
      onError: (message) => {
        setState('paused');
        setNotice({ kind: 'error', text: `${message}. Resume to try again from position ${last.current ?? 'the start'}.` });
      },
    });
  };

  const begin = async (): Promise<void> => {
    stop.current?.();
    setEvents([]);
    setReceived(0);
    setOverflows(0);
    setNotice(null);
    last.current = null;
    try {
      last.current = applied.current.start === 'now' ? await headPosition() : null;
    } catch {
      last.current = null;
    }
    connect(last.current);
  };

  useEffect(() => {
    void begin();
    return () => stop.current?.();
  }, []); // eslint-disable-line react-hooks/exhaustive-deps

  const pause = (): void => {
    stop.current?.();
    stop.current = null;
    setState('paused');
    setNotice({ kind: 'ok', text: `Paused after position ${last.current ?? '—'}.` });
  };

  return (
    <>
      <h1 tabIndex={-1}>Live tail</h1>
      <form class="filters" onSubmit={(e) => { e.preventDefault(); applied.current = { types, start }; void begin(); }}>
        <div>
          <label for="tail-types">Types</label>
          <input id="tail-types" value={types} placeholder="all types" onInput={(e) => setTypes(e.currentTarget.value)} />
        </div>
        <div>
          <label for="tail-start">Start</label>
          <select id="tail-start" value={start} onChange={(e) => setStart(e.currentTarget.value as Start)}>
            <option value="now">from now</option>
            <option value="beginning">from the first event</option>
          </select>
        </div>
        <button type="submit">Restart</button>
      </form>
      <div class="actions">
        <span class={`badge ${state === 'live' ? 'active' : 'pending'}`} id="tail-state">{state}</span>
        {state === 'paused'
          ? <button type="button" onClick={() => { setNotice(null); connect(last.current); }}>Resume</button>
          : <button type="button" class="secondary" onClick={pause}>Pause</button>}
        <span class="muted" id="tail-counts">
          {received} received · last position {last.current ?? '—'} · overflows {overflows}
          {received > KEEP ? ` · showing the newest ${KEEP}` : ''}
        </span>
      </div>
      <NoticeLine notice={notice} />
      <ol class="events" aria-live="off" aria-label="Events, newest first">
        {events.map((e) => <EventRow key={e.id} event={e} />)}
      </ol>
    </>
  );
}
