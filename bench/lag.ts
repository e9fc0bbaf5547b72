/**
 * Live projection lag under the refresh load: how long after an event is appended the
 * `sessions` read model shows it.
 *
 * Method. One probe at a time, on its own PostgreSQL connection:
 *   1. take the session of the latest successful refresh;
 *   2. read that session stream's newest event from the event store: its `recorded_at`
 *      (now() of the append's transaction: the moment of the append) and `occurred_at`
 *      (the command's clock, which the projection copies into `last_used_at`);
 *   3. poll `authstream.sessions.last_used_at` of the session every ~1 ms until it is at
 *      or past `occurred_at` (a later rotation of the same session counts too: it can only
 *      be applied after this one);
 *   4. lag = time of the poll that saw it − `recorded_at` (same machine clock, µs from
 *      PostgreSQL, sub-ms from performance.now()).
 * A sample is an upper bound: it includes one poll round trip (~1 ms under load). The
 * probe pauses `gapMs` between samples, so it adds a few hundred small queries a second.
 */
import pg from 'pg';
import { mean, percentile } from './stats.js';

export interface LagResult {
  samples: number;
  /** From the append (recorded_at) to the read model. */
  p50_ms: number;
  p99_ms: number;
  max_ms: number;
  mean_ms: number;
  /** From the command's clock (occurred_at, request start) to the read model. */
  from_request_p50_ms: number;
  from_request_p99_ms: number;
  /** Samples not seen within `timeoutMs` (counted at the timeout). */
  timed_out: number;
}

const wallMs = (): number => performance.timeOrigin + performance.now();
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

export interface LagProbe {
  /** Starts sampling (the connection is opened beforehand, so this costs nothing). */
  begin(): void;
  stop(): Promise<LagResult>;
}

export async function startLagProbe(
  databaseUrl: string,
  latestSession: () => string | undefined,
  options: { gapMs?: number; timeoutMs?: number } = {},
): Promise<LagProbe> {
  const gapMs = options.gapMs ?? 10;
  const timeoutMs = options.timeoutMs ?? 10_000;
  const client = new pg.Client({ connectionString: databaseUrl, application_name: 'authstream-bench-lag' });
  await client.connect();
  const fromAppend: number[] = [];
  const fromRequest: number[] = [];
  let timedOut = 0;
  let running = false;
  let loop: Promise<void> = Promise.resolve();

  const sample = async (sessionId: string): Promise<void> => {
    const { rows } = await client.query<{ recorded_ms: number; occurred_ms: number }>(
      `select extract(epoch from recorded_at)::float8 * 1000 as recorded_ms,
              extract(epoch from occurred_at)::float8 * 1000 as occurred_ms
       from eventstore.events where stream_id = $1 order by revision desc limit 1`,
      [`session-${sessionId}`]);
    const event = rows[0];
    if (!event) return;
    const deadline = wallMs() + timeoutMs;
    for (;;) {
      const { rows: seen } = await client.query<{ used_ms: number }>(
        `select extract(epoch from last_used_at)::float8 * 1000 as used_ms from authstream.sessions where id = $1`,
        [sessionId]);
      const now = wallMs();
      const used = seen[0]?.used_ms;
      if (used !== undefined && used >= event.occurred_ms - 0.001) {
        fromAppend.push(now - event.recorded_ms);
        fromRequest.push(now - event.occurred_ms);
        return;
      }
      if (now > deadline) {
        timedOut += 1;
        fromAppend.push(now - event.recorded_ms);
        fromRequest.push(now - event.occurred_ms);
        return;
      }
      // A sample in flight when the load stops still finishes: dropping it would drop the slowest.
      await sleep(1);
    }
  };

  return {
    begin() {
      if (running) return;
      running = true;
      loop = (async () => {
        while (running) {
          const sessionId = latestSession();
          if (sessionId) await sample(sessionId);
          await sleep(gapMs);
        }
      })();
    },
    async stop() {
      running = false;
      await loop;
      await client.end();
      return {
        samples: fromAppend.length,
        p50_ms: percentile(fromAppend, 50),
        p99_ms: percentile(fromAppend, 99),
        max_ms: fromAppend.length ? Math.max(...fromAppend) : Number.NaN,
        mean_ms: mean(fromAppend),
        from_request_p50_ms: percentile(fromRequest, 50),
        from_request_p99_ms: percentile(fromRequest, 99),
        timed_out: timedOut,
      };
    },
  };
}
