/**
 * An audit consumer for authstream: copies every event, in global order, into an
 * append-only NDJSON file, and keeps following new events live.
 *
 *   1. Replay: GET /v1/admin/events?from=<position>&limit=1000, page by page, until
 *      `next_from` is null.
 *   2. Follow: GET /v1/admin/events with `Accept: text/event-stream` and
 *      `Last-Event-ID: <position>`; reconnects (with backoff) whenever the stream ends:
 *      an `overflow` (this consumer was too slow), an `end` (token expired, server
 *      shutdown) or a network error.
 *
 * The position of the last event written is saved to STATE_FILE (atomically) after every
 * page and every live event, so a restart resumes where it stopped. Delivery is
 * at-least-once: a crash between writing an event and saving the position writes that
 * event again on restart; its `id` tells the copies apart.
 *
 * Standalone: Node 20+ and fetch, nothing from this repository. Build and run:
 *
 *   npm run build
 *   AUTHSTREAM_URL=http://localhost:3000 ADMIN_EMAIL=admin@example.com ADMIN_PASSWORD=… \
 *     node dist/examples/audit-consumer.js
 *
 * Environment: AUTHSTREAM_URL (default http://localhost:3000), ADMIN_EMAIL and
 * ADMIN_PASSWORD (an account with the admin role), AUDIT_LOG (default ./audit.ndjson),
 * STATE_FILE (default ./audit.position), TYPES (optional, comma-separated event types).
 */
import { appendFile, readFile, rename, writeFile } from 'node:fs/promises';

interface AuditEvent {
  id: string;
  stream_id: string;
  type: string;
  revision: string;
  position: string;
  occurred_at: string;
  data: Record<string, unknown>;
  metadata: Record<string, unknown>;
}

interface Page {
  events: AuditEvent[];
  next_from: string | null;
}

const BASE = (process.env.AUTHSTREAM_URL ?? 'http://localhost:3000').replace(/\/+$/, '');
const EMAIL = process.env.ADMIN_EMAIL ?? '';
const PASSWORD = process.env.ADMIN_PASSWORD ?? '';
const AUDIT_LOG = process.env.AUDIT_LOG ?? './audit.ndjson';
const STATE_FILE = process.env.STATE_FILE ?? './audit.position';
const TYPES = process.env.TYPES ?? '';

const stopping = new AbortController();
process.once('SIGINT', () => stopping.abort());
process.once('SIGTERM', () => stopping.abort());

const log = (message: string): void => {
  process.stderr.write(`${new Date().toISOString()} audit-consumer: ${message}\n`);
};

/// Position

async function loadPosition(): Promise<string | null> {
  try {
    const text = (await readFile(STATE_FILE, 'utf8')).trim();
    if (!/^[0-9]+$/.test(text)) throw new Error(`${STATE_FILE} does not hold a position`);
    return text;
  } catch (error) {
    if (error instanceof Error && 'code' in error && error.code === 'ENOENT') return null;
    throw error;
  }
}

async function savePosition(position: string): Promise<void> {
  const temp = `${STATE_FILE}.tmp`;
  await writeFile(temp, `${position}\n`);
  await rename(temp, STATE_FILE);
}

/** The audit sink: one JSON line per event. Replace with your SIEM, warehouse, … */
async function write(events: readonly AuditEvent[]): Promise<void> {
  if (events.length > 0) await appendFile(AUDIT_LOG, events.map((e) => `${JSON.stringify(e)}\n`).join(''));
}

/// Authentication: log in, refresh on 401, log in again if the refresh fails

let accessToken: string | null = null;
let refreshToken: string | null = null;

async function tokens(body: Record<string, string>, path: string): Promise<boolean> {
  const res = await fetch(`${BASE}${path}`, {
    method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body), signal: stopping.signal,
  });
  if (!res.ok) {
    await res.body?.cancel();
    return false;
  }
  const t = (await res.json()) as { access_token: string; refresh_token: string };
  accessToken = t.access_token;
  refreshToken = t.refresh_token;
  return true;
}

async function authenticate(): Promise<void> {
  if (refreshToken && (await tokens({ refresh_token: refreshToken }, '/v1/auth/refresh'))) return;
  if (!(await tokens({ email: EMAIL, password: PASSWORD }, '/v1/auth/login'))) {
    throw new Error('cannot log in: check ADMIN_EMAIL and ADMIN_PASSWORD (the account needs the admin role)');
  }
}

/** GET with the bearer token; one re-authentication on 401. */
async function get(url: string, headers: Record<string, string> = {}): Promise<Response> {
  if (!accessToken) await authenticate();
  for (let attempt = 0; ; attempt++) {
    const res = await fetch(url, { headers: { ...headers, authorization: `Bearer ${accessToken}` }, signal: stopping.signal });
    if (res.status !== 401 || attempt > 0) return res;
    await res.body?.cancel();
    await authenticate();
  }
}

/// 1. Replay, page by page

async function replay(from: string | null): Promise<string | null> {
  let position = from;
  for (;;) {
    const query = new URLSearchParams({ limit: '1000' });
    if (position) query.set('from', position);
    if (TYPES) query.set('types', TYPES);
    const res = await get(`${BASE}/v1/admin/events?${query}`);
    if (!res.ok) throw new Error(`GET /v1/admin/events: ${res.status} ${await res.text()}`);
    const page = (await res.json()) as Page;
    await write(page.events);
    const last = page.events.at(-1);
    if (last) {
      position = last.position;
      await savePosition(position);
    }
    log(`replayed ${page.events.length} events, at position ${position ?? 'start'}`);
    if (page.next_from === null) return position;
  }
}

/// 2. Follow the live tail (SSE)

/** Reads one SSE connection until it ends; returns the last position written. */
async function follow(from: string | null): Promise<string | null> {
  let position = from;
  const query = TYPES ? `?${new URLSearchParams({ types: TYPES })}` : '';
  const res = await get(`${BASE}/v1/admin/events${query}`, {
    accept: 'text/event-stream', ...(position ? { 'last-event-id': position } : {}),
  });
  if (!res.ok || !res.body) throw new Error(`SSE: ${res.status} ${await res.text()}`);
  log(`following live events after ${position ?? 'the start'}`);
  const decoder = new TextDecoder();
  let buffer = '';
  for await (const chunk of res.body) {
    buffer += decoder.decode(chunk as Uint8Array, { stream: true }).replace(/\r\n?/g, '\n');
    let end: number;
    while ((end = buffer.indexOf('\n\n')) !== -1) {
      const block = buffer.slice(0, end);
      buffer = buffer.slice(end + 2);
      let id: string | undefined;
      let event = 'message';
      const data: string[] = [];
      for (const line of block.split('\n')) {
        if (line.startsWith(':')) continue; // heartbeat
        const colon = line.indexOf(':');
        const field = colon === -1 ? line : line.slice(0, colon);
        const value = colon === -1 ? '' : line.slice(colon + 1).replace(/^ /, '');
        if (field === 'id') id = value;
        else if (field === 'event') event = value;
        else if (field === 'data') data.push(value);
      }
      if (event === 'overflow' || event === 'end') {
        log(`the server ended the stream (${event}: ${data.join('')}); reconnecting`);
        continue;
      }
      if (id === undefined || data.length === 0) continue;
      await write([JSON.parse(data.join('\n')) as AuditEvent]);
      position = id;
      await savePosition(position);
    }
  }
  return position;
}

async function main(): Promise<void> {
  if (!EMAIL || !PASSWORD) throw new Error('set ADMIN_EMAIL and ADMIN_PASSWORD');
  let position = await loadPosition();
  log(position ? `resuming after position ${position}` : 'starting from the first event');
  position = await replay(position);
  let delay = 500;
  while (!stopping.signal.aborted) {
    try {
      const before = position;
      position = await follow(position);
      if (position !== before) delay = 500;
    } catch (error) {
      if (stopping.signal.aborted) break;
      log(`stream failed: ${error instanceof Error ? error.message : String(error)}`);
    }
    await new Promise((resolve) => setTimeout(resolve, delay));
    delay = Math.min(delay * 2, 30_000);
  }
  log(`stopped at position ${position ?? 'start'}`);
}

main().catch((error: unknown) => {
  if (stopping.signal.aborted) return;
  log(error instanceof Error ? error.message : String(error));
  process.exitCode = 1;
});
