/**
 * HTTP load over loopback with autocannon: the scenarios (bare Fastify baseline, GET
 * /v1/me, register, login, refresh; the peer's refresh in bench/peer.ts, on the same
 * chain) and the users they start from. Every run is bounded in time (`seconds`) and in
 * count (`maxRequests`, after which it is stopped).
 *
 * Refresh chains tokens: each refresh token may be used once, so the scenario keeps a
 * queue of unused tokens: a request takes one from the queue, its 200 answer puts the new
 * token back. With one request in flight per connection (no pipelining) and more tokens
 * than connections, every session is refreshed by one connection at a time, as a real
 * client does, and nothing depends on autocannon's per-connection context (which it
 * resets after each pass over its request list).
 */
import autocannon, { type Instance, type Options, type Request, type Result } from 'autocannon';

export interface LoadResult {
  /** 2xx answers. */
  ok: number;
  /** Non-2xx answers, connection errors and timeouts. */
  failed: number;
  seconds: number;
  /** 2xx answers per second. */
  rps: number;
  latency_ms_p50: number;
  latency_ms_p99: number;
  latency_ms_mean: number;
  connections: number;
  status: Record<string, number>;
  /** 2xx answers in each second of the measured run (the last one partial). */
  per_second: number[];
}

/** What to request (autocannon's options less the shape of the load). */
export type Requests = Omit<Options, 'connections' | 'duration'>;

export interface LoadShape {
  connections: number;
  seconds: number;
  /** Stop early after this many answers (the count bound). */
  maxRequests: number;
}

function run(options: Options, maxRequests: number): Promise<{ result: Result; perSecond: number[] }> {
  return new Promise((resolve, reject) => {
    let answers = 0;
    const perSecond: number[] = [];
    const start = performance.now();
    const instance: Instance = autocannon({ timeout: 30, ...options }, (error, result) => {
      if (error) reject(error);
      else resolve({ result, perSecond });
    });
    instance.on('response', (_client: unknown, status: number) => {
      answers += 1;
      if (status >= 200 && status < 300) {
        const second = Math.floor((performance.now() - start) / 1000);
        perSecond[second] = (perSecond[second] ?? 0) + 1;
      }
      if (answers === maxRequests) instance.stop();
    });
  });
}

function summarise({ result: r, perSecond }: { result: Result; perSecond: number[] }, connections: number): LoadResult {
  const status: Record<string, number> = {};
  for (const [code, { count }] of Object.entries(r.statusCodeStats)) status[code] = count;
  const ok = r['2xx'];
  const seconds = Math.max(r.duration, 1e-3);
  return {
    ok,
    failed: r.non2xx + r.errors,
    seconds,
    rps: ok / seconds,
    latency_ms_p50: r.latency.p50,
    latency_ms_p99: r.latency.p99,
    latency_ms_mean: r.latency.mean,
    connections,
    status,
    per_second: Array.from(perSecond, (n) => n ?? 0),
  };
}

/** A warm-up run (discarded), then the measured run. */
export async function measure(
  options: Requests,
  shape: LoadShape,
  warmupSeconds: number,
  around?: { before?: () => void | Promise<void>; after?: () => void | Promise<void> },
): Promise<LoadResult> {
  if (warmupSeconds > 0) {
    await run({ ...options, connections: shape.connections, duration: warmupSeconds }, shape.maxRequests);
  }
  await around?.before?.();
  let result;
  try {
    result = await run({ ...options, connections: shape.connections, duration: shape.seconds }, shape.maxRequests);
  } finally {
    await around?.after?.();
  }
  return summarise(result, shape.connections);
}

const JSON_HEADERS = { 'content-type': 'application/json' };

/// Users to start from

export interface SeedUser {
  email: string;
  password: string;
  accessToken: string;
  refreshToken: string;
  sessionId: string;
}

interface TokenBody {
  access_token: string;
  refresh_token: string;
  session_id: string;
}

/** A password the policy accepts (long enough, not a common one). */
export const PASSWORD = 'bench-Zebra-Quartz-7-lantern';

/** Registers `count` users through the API, `concurrency` at a time. */
export async function seedUsers(baseUrl: string, count: number, tag: string, concurrency = 4): Promise<SeedUser[]> {
  const users: SeedUser[] = [];
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < count) {
      const i = next++;
      const email = `seed-${tag}-${i}@example.com`;
      const res = await fetch(`${baseUrl}/v1/auth/register`, {
        method: 'POST', headers: JSON_HEADERS, body: JSON.stringify({ email, password: PASSWORD }),
      });
      const text = await res.text();
      if (res.status !== 201) throw new Error(`seeding a user: ${res.status} ${text}`);
      const body = JSON.parse(text) as TokenBody;
      users.push({ email, password: PASSWORD, accessToken: body.access_token, refreshToken: body.refresh_token, sessionId: body.session_id });
    }
  };
  await Promise.all(Array.from({ length: Math.min(concurrency, count) }, worker));
  return users;
}

/// Scenarios: each returns autocannon options (less connections and duration).

/** GET / on the bare Fastify baseline. */
export function baselineRequests(baseUrl: string): Requests {
  return { url: `${baseUrl}/` };
}

/** GET /v1/me; each connection carries the access token of one user (round robin). */
export function meRequests(baseUrl: string, users: readonly SeedUser[]): Requests {
  let next = 0;
  return {
    url: `${baseUrl}/v1/me`,
    setupClient: (client) => {
      const user = users[next++ % users.length] as SeedUser;
      client.setHeaders({ authorization: `Bearer ${user.accessToken}` });
    },
  };
}

/** POST /v1/auth/register with a new email each time. */
export function registerRequests(baseUrl: string, tag: string): Requests {
  let n = 0;
  const request: Request = {
    method: 'POST',
    path: '/v1/auth/register',
    headers: JSON_HEADERS,
    setupRequest: (req) => ({ ...req, body: JSON.stringify({ email: `reg-${tag}-${n++}@example.com`, password: PASSWORD }) }),
  };
  return { url: baseUrl, requests: [request] };
}

/** POST /v1/auth/login with the seeded users in turn (right passwords). */
export function loginRequests(baseUrl: string, users: readonly SeedUser[]): Requests {
  let n = 0;
  const request: Request = {
    method: 'POST',
    path: '/v1/auth/login',
    headers: JSON_HEADERS,
    setupRequest: (req) => {
      const user = users[n++ % users.length] as SeedUser;
      return { ...req, body: JSON.stringify({ email: user.email, password: user.password }) };
    },
  };
  return { url: baseUrl, requests: [request] };
}

export interface RefreshChain {
  options: Requests;
  /** The session of the latest successful refresh (for the lag probe). */
  latestSession(): string | undefined;
  /** Unused refresh tokens left. */
  available(): number;
}

/** What a refresh chain sends for a token, and what a 200 answer hands back. */
export interface ChainedRequest {
  path: string;
  headers: Record<string, string>;
  body(refreshToken: string): string;
  /** The new refresh token of a 200 answer's body (and its session, when the answer names one). */
  next(body: string): { refreshToken: string; session?: string };
}

/**
 * Refresh requests chaining single-use tokens through one queue (see the module comment):
 * authstream's refresh and the peer's refresh_token grant run this same load shape.
 */
export function tokenChain(baseUrl: string, tokens: readonly string[], shape: ChainedRequest): RefreshChain {
  const free = [...tokens];
  let latest: string | undefined;
  const request: Request = {
    method: 'POST',
    path: shape.path,
    headers: shape.headers,
    setupRequest: (req) => {
      // An empty queue means tokens were lost to failed answers: the request then fails too (counted).
      const token = free.shift() ?? 'exhausted';
      return { ...req, body: shape.body(token) };
    },
    onResponse: (status, body) => {
      if (status !== 200) return;
      const next = shape.next(body);
      free.push(next.refreshToken);
      latest = next.session ?? latest;
    },
  };
  return { options: { url: baseUrl, requests: [request] }, latestSession: () => latest, available: () => free.length };
}

/** POST /v1/auth/refresh, chaining each session's tokens. */
export function refreshRequests(baseUrl: string, tokens: readonly string[]): RefreshChain {
  return tokenChain(baseUrl, tokens, {
    path: '/v1/auth/refresh',
    headers: JSON_HEADERS,
    body: (token) => JSON.stringify({ refresh_token: token }),
    next: (body) => {
      const b = JSON.parse(body) as TokenBody;
      return { refreshToken: b.refresh_token, session: b.session_id };
    },
  });
}
