/** Projections and reactors: position, head, lag (a live chart), parked events, rebuilds with progress. */
import { useCallback, useEffect, useRef, useState } from 'preact/hooks';
import { api } from '../api.js';
import { Loading, NoticeLine, Section, Time, useAction, useInterval, useLoad } from '../ui.js';
import { LagChart } from './lagChart.js';

interface Projection {
  name: string; kind: 'sql' | 'live'; position: string; head: string; lag_events: number; lag_capped: boolean; lag_ms: number;
  rebuilding: boolean; rebuild?: { started_at: string; applied: number; position: string } | null;
}
interface Reactor { name: string; position: string; active: boolean; failing: null | { position: string; attempts: number; since: string; reason: string } }
interface Status { projections: Projection[]; reactors: Reactor[]; parked_events: number }
interface Parked { position: string; event_id: string; stream_id: string; type: string; reason: string; parked_at: string }

const SAMPLES = 60;

export function ProjectionsPage() {
  const [status, setStatus] = useState<Status | null>(null);
  const [error, setError] = useState<string | null>(null);
  const history = useRef(new Map<string, number[]>());
  const { busy, notice, run } = useAction();
  const parked = useLoad(() => api.call<{ parked: Parked[] }>('GET', '/v1/admin/projections/parked'), []);

  // Each read is numbered; a read sent before the latest rebuild was accepted is stale when
  // it lands (it may still say "not rebuilding") and is dropped.
  const reads = useRef({ sent: 0, freshFrom: 0 });
  const poll = useCallback(() => {
    const seq = ++reads.current.sent;
    api.call<Status>('GET', '/v1/admin/projections').then((s) => {
      if (seq < reads.current.freshFrom) return;
      for (const p of s.projections) {
        const samples = [...(history.current.get(p.name) ?? []), p.lag_events].slice(-SAMPLES);
        history.current.set(p.name, samples);
      }
      setStatus(s);
      setError(null);
    }, (e: unknown) => setError(e instanceof Error ? e.message : String(e)));
  }, []);
  useEffect(poll, [poll]); // the first read at once, then every 2 s
  useInterval(poll, 2000);

  const rebuild = (p: Projection): void => {
    const verb = p.kind === 'sql' ? 'Rebuild' : 'Reload';
    void run(`${verb} of ${p.name} started.`, async () => {
      await api.call('POST', `/v1/admin/projections/${encodeURIComponent(p.name)}/rebuild`);
      reads.current.freshFrom = reads.current.sent + 1;
    }).then(poll);
  };

  return (
    <>
      <h1 tabIndex={-1}>Projections</h1>
      {status === null ? <Loading error={error} /> : (
        <>
          <Section title="Read models and consumers">
            <div class="scroll">
              <table>
                <caption class="visually-hidden">Each projection's position against the head of the log, refreshed every 2 seconds</caption>
                <thead><tr>
                  <th scope="col">Name</th><th scope="col">Kind</th><th scope="col">Position</th><th scope="col">Head</th>
                  <th scope="col">Lag (events)</th><th scope="col">Lag (ms)</th><th scope="col">Last 2 minutes</th><th scope="col">Rebuild</th>
                </tr></thead>
                <tbody>
                  {status.projections.map((p) => (
                    <tr key={p.name} data-projection={p.name}>
                      <th scope="row">{p.name}</th>
                      <td>{p.kind}</td>
                      <td>{p.position}</td>
                      <td>{p.head}</td>
                      <td>{p.lag_events}{p.lag_capped ? '+' : ''}</td>
                      <td>{p.lag_ms}</td>
                      <td><LagChart samples={history.current.get(p.name) ?? []} label={`lag of ${p.name}`} /></td>
                      <td>
                        {p.rebuilding ? <RebuildProgress p={p} /> : (
                          <button type="button" class="secondary" disabled={busy} onClick={() => rebuild(p)}
                            aria-label={`${p.kind === 'sql' ? 'Rebuild' : 'Reload'} ${p.name}`}>
                            {p.kind === 'sql' ? 'Rebuild' : 'Reload'}
                          </button>
                        )}
                      </td>
                    </tr>
                  ))}
                </tbody>
              </table>
            </div>
            <NoticeLine notice={notice} />
          </Section>

          <Section title="Reactors">
            <div class="scroll">
              <table>
                <caption class="visually-hidden">Side effects from the log: mail, SMS and webhooks</caption>
                <thead><tr><th scope="col">Name</th><th scope="col">Position</th><th scope="col">Held here</th><th scope="col">Failing</th></tr></thead>
                <tbody>
                  {status.reactors.map((r) => (
                    <tr key={r.name}>
                      <th scope="row">{r.name}</th><td>{r.position}</td><td>{r.active ? 'yes' : 'standing by'}</td>
                      <td>{r.failing ? `at ${r.failing.position} since ${new Date(r.failing.since).toLocaleString()} (${r.failing.attempts} attempts): ${r.failing.reason}` : '—'}</td>
                    </tr>
                  ))}
                </tbody>
              </table>
            </div>
          </Section>

          <Section title={`Parked events (${status.parked_events})`} id="parked">
            <ParkedList parked={parked.data?.parked ?? null} error={parked.error} changed={() => { parked.reload(); poll(); }} />
          </Section>
        </>
      )}
    </>
  );
}

function RebuildProgress({ p }: { p: Projection }) {
  const head = Number(p.head) || 1;
  const at = Number(p.rebuild?.position ?? 0);
  return (
    <span class="progress">
      <label>
        <span class="visually-hidden">Rebuild of {p.name}</span>
        <progress max={head} value={Math.min(at, head)} />
      </label>{' '}
      {p.rebuild ? `${p.rebuild.applied} events` : 'rebuilding'}
    </span>
  );
}

function ParkedList({ parked, error, changed }: { parked: Parked[] | null; error: string | null; changed: () => void }) {
  const { busy, notice, run } = useAction();
  if (parked === null) return <Loading error={error} />;
  if (parked.length === 0) return <p>None: every event was applied.</p>;
  return (
    <>
      <ul class="parked">
        {parked.map((p) => (
          <li key={p.position}>
            <strong>{p.type}</strong> in <a href={`#/streams/${encodeURIComponent(p.stream_id)}`}>{p.stream_id}</a> at position {p.position},
            parked <Time iso={p.parked_at} />: <span class="wrap">{p.reason}</span>{' '}
            <button type="button" class="secondary" disabled={busy}
              onClick={() => void run('Applied.', () => api.call('POST', `/v1/admin/projections/parked/${p.position}/retry`)).then(changed)}>Retry</button>{' '}
            <button type="button" class="link" disabled={busy}
              onClick={() => void run('Skipped.', () => api.call('DELETE', `/v1/admin/projections/parked/${p.position}`)).then(changed)}>Skip</button>
          </li>
        ))}
      </ul>
      <NoticeLine notice={notice} />
    </>
  );
}
