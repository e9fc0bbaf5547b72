/** Small shared pieces: the status line, forms, tables, times and event bodies. */
import type { ComponentChildren } from 'preact';
import { useCallback, useEffect, useState } from 'preact/hooks';
import { ApiError } from './api.js';

/** A message to the operator, read out by screen readers (role=status / role=alert). */
export type Notice = { kind: 'ok' | 'error'; text: string } | null;

export function NoticeLine({ notice }: { notice: Notice }) {
  return (
    <p class={`notice ${notice?.kind ?? ''}`} role={notice?.kind === 'error' ? 'alert' : 'status'} aria-live="polite">
      {notice?.text ?? ''}
    </p>
  );
}

export function describe(error: unknown): string {
  if (error instanceof ApiError) {
    const fields = error.problem.errors?.map((e) => `${e.path}: ${e.message}`).join('; ');
    return `${error.problem.detail ?? error.problem.title ?? error.problem.code}${fields ? ` (${fields})` : ''} [${error.problem.code}]`;
  }
  return error instanceof Error ? error.message : String(error);
}

/** Loads with `load` when `deps` change; `reload()` loads again. */
export function useLoad<T>(load: () => Promise<T>, deps: unknown[]): { data: T | null; error: string | null; reload: () => void } {
  const [state, setState] = useState<{ data: T | null; error: string | null }>({ data: null, error: null });
  const [tick, setTick] = useState(0);
  useEffect(() => {
    let live = true;
    load().then(
      (data) => live && setState({ data, error: null }),
      (error: unknown) => live && setState((s) => ({ data: s.data, error: describe(error) })),
    );
    return () => {
      live = false;
    };
  }, [...deps, tick]); // eslint-disable-line react-hooks/exhaustive-deps
  const reload = useCallback(() => setTick((n) => n + 1), []);
  return { ...state, reload };
}

export interface Paged<T> { items: T[] | null; next: string | null; error: string | null; more: () => void }

/**
 * A list read a page at a time: `page(cursor)` with null for the first page, again from
 * the start when `deps` change; `more()` appends the page after `next`.
 */
export function usePaged<T>(page: (cursor: string | null) => Promise<{ items: T[]; next: string | null }>, deps: unknown[]): Paged<T> {
  const [state, setState] = useState<{ items: T[] | null; next: string | null; error: string | null }>({ items: null, next: null, error: null });
  const load = useCallback(async (cursor: string | null, append: boolean, live: () => boolean) => {
    try {
      const got = await page(cursor);
      if (!live()) return;
      setState((before) => ({ items: append && before.items ? [...before.items, ...got.items] : got.items, next: got.next, error: null }));
    } catch (error) {
      if (live()) setState((before) => ({ ...before, error: describe(error) }));
    }
  }, deps); // eslint-disable-line react-hooks/exhaustive-deps
  useEffect(() => {
    let live = true;
    setState({ items: null, next: null, error: null });
    void load(null, false, () => live);
    return () => {
      live = false;
    };
  }, [load]);
  const more = useCallback(() => {
    if (state.next !== null) void load(state.next, true, () => true);
  }, [load, state.next]);
  return { ...state, more };
}

/** Runs an action, reporting its outcome; `busy` while it runs. */
export function useAction(): { busy: boolean; notice: Notice; run: (label: string, action: () => Promise<unknown>) => Promise<boolean> } {
  const [busy, setBusy] = useState(false);
  const [notice, setNotice] = useState<Notice>(null);
  const run = useCallback(async (label: string, action: () => Promise<unknown>) => {
    setBusy(true);
    setNotice(null);
    try {
      await action();
      setNotice({ kind: 'ok', text: label });
      return true;
    } catch (error) {
      setNotice({ kind: 'error', text: describe(error) });
      return false;
    } finally {
      setBusy(false);
    }
  }, []);
  return { busy, notice, run };
}

export function Time({ iso }: { iso: string | null | undefined }) {
  if (!iso) return <span>—</span>;
  const date = new Date(iso);
  return <time dateTime={iso} title={iso}>{date.toLocaleString()}</time>;
}

export function Section({ title, children, id }: { title: string; children: ComponentChildren; id?: string }) {
  const headingId = `${id ?? title.toLowerCase().replace(/[^a-z0-9]+/g, '-')}-heading`;
  return (
    <section aria-labelledby={headingId}>
      <h2 id={headingId}>{title}</h2>
      {children}
    </section>
  );
}

export function Loading({ error }: { error: string | null }) {
  return error ? <p class="notice error" role="alert">{error}</p> : <p role="status">Loading…</p>;
}

/** One event: its header line and, on demand, its data and metadata as the admin API shows them. */
export function EventRow({ event, open = false }: {
  event: { id: string; type: string; stream_id: string; revision: string; position: string; occurred_at: string; data: unknown; metadata: unknown };
  open?: boolean;
}) {
  return (
    <li class="event">
      <details open={open}>
        <summary>
          <span class="type">{event.type}</span> <span class="stream">{event.stream_id}</span>{' '}
          <span class="muted">@{event.revision} · position {event.position} · <Time iso={event.occurred_at} /></span>
        </summary>
        <div class="event-body">
          <p><a href={`#/streams/${encodeURIComponent(event.stream_id)}`}>Open stream {event.stream_id}</a></p>
          <h3>data</h3>
          <pre>{JSON.stringify(event.data, null, 2)}</pre>
          <h3>metadata</h3>
          <pre>{JSON.stringify(event.metadata, null, 2)}</pre>
          <p class="muted">event id {event.id}</p>
        </div>
      </details>
    </li>
  );
}

/** Polls `tick` every `ms` while the page is visible. */
export function useInterval(tick: () => void, ms: number): void {
  useEffect(() => {
    const timer = setInterval(() => {
      if (document.visibilityState === 'visible') tick();
    }, ms);
    return () => clearInterval(timer);
  }, [tick, ms]);
}
