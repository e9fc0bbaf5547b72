/**
 * Projection rebuild rate over a store of at least `targetEvents` events.
 *
 * The store is filled fast, straight through the event-store port and the codec (so the
 * events are exactly what the service writes: personal fields and ip/user agent sealed
 * with per-user keys), with the history of a realistic user base, interleaved in global
 * order the way it happens live: registrations (IdentifierClaimed + UserRegistered), then
 * sessions starting, then their refresh-token rotations in rounds, then logouts. Each user
 * brings SESSIONS_PER_USER sessions of ROTATIONS_PER_SESSION rotations; appends go
 * APPEND_CONCURRENCY at a time, each one to ten events of one stream.
 *
 * Then each projection is rebuilt with `runtime.projections.rebuild(name)` (replay of the
 * store into shadow tables, then the swap), one after the other, and then all of them
 * together, on an otherwise idle runtime (its live subscription has caught up first), and
 * timed. A rate is the store's events ÷ the time to rebuild: how fast a store of that size
 * is brought back (a projection that declares its event types reads only those).
 */
import { randomUUID } from 'node:crypto';
import type { DomainEvent } from '../src/domain/events.js';
import { identifierStream, sessionStream, userStream } from '../src/domain/events.js';
import type { ExpectedRevision } from '../src/ports/eventStore.js';
import type { EventContext } from '../src/ports/events.js';
import { hashToken } from '../src/infra/secrets.js';
import { allProjections } from '../src/projections/index.js';
import type { Runtime } from '../src/composition/runtime.js';
import { cpuMeter } from './procStats.js';
import { availableParallelism } from 'node:os';

const SESSIONS_PER_USER = 4;
const ROTATIONS_PER_SESSION = 10;
/** Rotations per append (the rounds keep sessions interleaved in global order; one append of all is faster to generate). */
const ROTATIONS_PER_APPEND = 10;
const APPEND_CONCURRENCY = 16;
/** 2 (claim + registration) + per session: start, rotations, logout. */
const EVENTS_PER_USER = 2 + SESSIONS_PER_USER * (2 + ROTATIONS_PER_SESSION);

export interface RebuildResult {
  /** Events in the store when the rebuilds ran. */
  store_events: number;
  /** Events generated for this measurement (the rest came from the HTTP scenarios). */
  generated_events: number;
  generate_seconds: number;
  /**
   * Each projection rebuilt alone. `replayed`: events it read and applied (only its own
   * types when it declares them); the rate is store events ÷ seconds: how fast a store of
   * this size is brought back.
   */
  projections: Array<{ name: string; replayed: number; seconds: number; events_per_s: number }>;
  /**
   * Every read model rebuilt: `rebuildAll` (one replay) when the runner has it, else one
   * after the other. CPU per 1,000 store events: of this process (where the runtime runs)
   * and of PostgreSQL; `cpu_idle` is the machine's idle share meanwhile.
   */
  all: {
    method: 'rebuildAll' | 'one by one';
    seconds: number;
    events_per_s: number;
    node_cpu_ms_per_1k: number;
    postgres_cpu_ms_per_1k: number;
    other_cpu_share: number;
  };
}

export async function countEvents(runtime: Runtime): Promise<number> {
  const { rows } = await runtime.sql.query<{ n: unknown }>('select count(*) as n from eventstore.events');
  return Number(rows[0]?.n ?? 0);
}

/** Runs `tasks` with at most `concurrency` at a time. */
async function pool(tasks: Array<() => Promise<unknown>>, concurrency: number): Promise<void> {
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < tasks.length) {
      const task = tasks[next++] as () => Promise<unknown>;
      await task();
    }
  };
  await Promise.all(Array.from({ length: Math.min(concurrency, tasks.length) }, worker));
}

interface GenSession {
  id: string;
  userId: string;
  revision: bigint;
}

/** Appends about `count` events (whole users) through the port and the codec. */
export async function generateEvents(runtime: Runtime, count: number, passwordHash: string): Promise<number> {
  const users = Math.max(1, Math.ceil(count / EVENTS_PER_USER));
  const { store, codec, keys, secrets } = runtime;
  let clock = Date.now() - 86_400_000; // a day of history, one event a few ms apart
  const ctxFor = (actorId: string): EventContext => ({
    now: new Date((clock += 3)),
    correlationId: randomUUID(), causationId: null, actorId, requestId: randomUUID(),
    ip: '203.0.113.7', userAgent: 'authstream-bench/1.0 (generated history)',
  });
  let appended = 0;
  const append = async (stream: string, events: DomainEvent[], actorId: string, expected: ExpectedRevision): Promise<void> => {
    const ctx = ctxFor(actorId);
    const encoded = await Promise.all(events.map((e) => codec.encode(e, ctx, randomUUID())));
    await store.appendToStream(stream, encoded, { expectedRevision: expected });
    appended += events.length;
  };

  const userIds = Array.from({ length: users }, () => randomUUID());
  const sessions: GenSession[] = userIds.flatMap((userId) =>
    Array.from({ length: SESSIONS_PER_USER }, () => ({ id: randomUUID(), userId, revision: 0n })));
  const expiresAt = (): string => new Date(clock + 30 * 86_400_000).toISOString();
  const tokenHash = (): string => hashToken(randomUUID());

  // Registrations: a data key, the email's reservation, the user stream.
  await pool(userIds.map((userId, i) => async () => {
    await keys.create(userId);
    const email = `gen-${userId.slice(0, 8)}-${i}@example.com`;
    const hmac = secrets.identifierHash('email', email);
    await append(identifierStream(hmac), [{ type: 'IdentifierClaimed', data: { user_id: userId, kind: 'email' } }], userId, 'no_stream');
    await append(userStream(userId), [{
      type: 'UserRegistered',
      data: { user_id: userId, email, phone: null, first_name: 'Gen', last_name: `User ${i}`, password_hash: passwordHash, roles: ['user'] },
    }], userId, 'no_stream');
  }), APPEND_CONCURRENCY);

  // Sessions start.
  await pool(sessions.map((s) => () => append(sessionStream(s.id), [{
    type: 'SessionStarted',
    data: { session_id: s.id, user_id: s.userId, refresh_token_hash: tokenHash(), expires_at: expiresAt(), user_revision: '0' },
  }], s.userId, 'no_stream')), APPEND_CONCURRENCY);

  // Rotations, in rounds over all sessions.
  for (let done = 0; done < ROTATIONS_PER_SESSION; done += ROTATIONS_PER_APPEND) {
    const n = Math.min(ROTATIONS_PER_APPEND, ROTATIONS_PER_SESSION - done);
    await pool(sessions.map((s) => async () => {
      const events: DomainEvent[] = Array.from({ length: n }, () => ({
        type: 'RefreshTokenRotated' as const,
        data: { session_id: s.id, user_id: s.userId, refresh_token_hash: tokenHash(), expires_at: expiresAt() },
      }));
      await append(sessionStream(s.id), events, s.userId, s.revision);
      s.revision += BigInt(n);
    }), APPEND_CONCURRENCY);
  }

  // Logouts.
  await pool(sessions.map((s) => () => append(sessionStream(s.id), [{
    type: 'SessionRevoked', data: { session_id: s.id, user_id: s.userId, reason: 'logout' },
  }], s.userId, s.revision)), APPEND_CONCURRENCY);

  return appended;
}

/** Fills the store up to `targetEvents`, lets the live projections catch up, then times each rebuild. */
export async function measureRebuild(
  runtime: Runtime,
  targetEvents: number,
  passwordHash: string,
  database: string,
  log: (line: string) => void = () => {},
  beforeRebuilds?: () => Promise<void>,
): Promise<RebuildResult> {
  const before = await countEvents(runtime);
  const t0 = performance.now();
  const generated = before < targetEvents ? await generateEvents(runtime, targetEvents - before, passwordHash) : 0;
  const generateSeconds = (performance.now() - t0) / 1000;
  const storeEvents = await countEvents(runtime);
  log(`store: ${storeEvents} events (${generated} generated in ${generateSeconds.toFixed(1)} s)`);

  const head = await runtime.store.headPosition();
  if (!(await runtime.projections.waitFor(head, 300_000))) throw new Error('live projections did not catch up with the generated events');
  // The store grew from almost nothing to its size within seconds; autovacuum would ANALYZE
  // it within a minute or so. Rebuilds are measured on a store with current statistics, as
  // one of that size has in service (rebuildAll's plan does not depend on them; a single
  // projection's typed read does).
  await runtime.sql.query('analyze eventstore.events');
  await beforeRebuilds?.();

  const projections: RebuildResult['projections'] = [];
  for (const { name } of allProjections()) {
    let replayed = 0;
    const start = performance.now();
    await runtime.projections.rebuild(name, (applied) => {
      replayed = applied;
    });
    const seconds = (performance.now() - start) / 1000;
    projections.push({ name, replayed, seconds, events_per_s: storeEvents / seconds });
    log(`rebuild ${name}: ${replayed} events replayed in ${seconds.toFixed(2)} s (${(storeEvents / seconds).toFixed(0)} store events/s)`);
  }
  // rebuildAll is newer than rebuild(name): use it when this runner has it.
  const runner = runtime.projections as unknown as { rebuildAll?: () => Promise<void> };
  const meter = cpuMeter(process.pid, database);
  const start = performance.now();
  const method = typeof runner.rebuildAll === 'function' ? 'rebuildAll' : 'one by one';
  if (runner.rebuildAll) await runner.rebuildAll();
  else for (const { name } of allProjections()) await runtime.projections.rebuild(name);
  const seconds = (performance.now() - start) / 1000;
  const cpu = meter.end();
  const cores = availableParallelism();
  const per1k = (share: number): number => (share * cores * seconds * 1000 * 1000) / storeEvents;
  const all: RebuildResult['all'] = {
    method, seconds, events_per_s: storeEvents / seconds,
    node_cpu_ms_per_1k: per1k(cpu.service), postgres_cpu_ms_per_1k: per1k(cpu.postgres), other_cpu_share: cpu.other,
  };
  log(`rebuild of every read model (${all.method}): ${all.seconds.toFixed(2)} s, ${all.events_per_s.toFixed(0)} store events/s`);
  return { store_events: storeEvents, generated_events: generated, generate_seconds: generateSeconds, projections, all };
}
