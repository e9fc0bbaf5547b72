/**
 * A store of N users for the growth scenario, written straight through the event-store port
 * and the codec (as the rebuild scenario writes its history): exactly the events the service
 * writes, with personal fields sealed under per-user keys, in bulk commits.
 *
 * Each user: an email reservation, the registration, one session started and refreshed
 * ROTATIONS_PER_USER times. Beside them, LONG_SESSIONS sessions with a month of refreshes
 * every five minutes (LONG_ROTATIONS events each), whatever N: the streams a cold read must
 * not decode whole. One user is an admin (the search scenario signs in as them).
 *
 * A sample of sessions ends with a token minted for real (the secret kept, its hash in the
 * stream at the generation it names), so the refresh scenario can use them; every user's
 * password is PASSWORD (one argon2 hash, shared: hashing a million passwords measures
 * nothing here).
 */
import { randomUUID } from 'node:crypto';
import type { DomainEvent } from '../src/domain/events.js';
import { identifierStream, sessionStream, userStream } from '../src/domain/events.js';
import { hashToken } from '../src/infra/secrets.js';
import type { EventToAppend, StreamAppend } from '../src/ports/eventStore.js';
import type { EventContext } from '../src/ports/events.js';
import type { Runtime } from '../src/composition/runtime.js';

export interface GrowthShape {
  users: number;
  /** Sessions with a long refresh history (the same number at every size). */
  longSessions: number;
  longRotations: number;
  /** How many users' emails and sessions to hand back for the scenarios. */
  sample: number;
}

export const ROTATIONS_PER_USER = 2;

const FIRST = [
  'anna', 'ben', 'chloe', 'david', 'elena', 'farid', 'grace', 'hugo', 'ines', 'jakub', 'keiko', 'liam', 'maria', 'noah', 'olga',
  'pavel', 'quinn', 'rosa', 'sami', 'tara', 'umar', 'vera', 'wei', 'xenia', 'yusuf', 'zoe', 'amir', 'bea', 'carlos', 'dana',
];
const LAST = [
  'smith', 'garcia', 'muller', 'rossi', 'novak', 'kowalski', 'dubois', 'jensen', 'silva', 'tanaka', 'kim', 'nguyen', 'ivanov',
  'okafor', 'haddad', 'larsen', 'moreau', 'costa', 'weber', 'fischer', 'petrov', 'santos', 'cohen', 'ali', 'chen', 'lopez',
  'meyer', 'brown', 'wilson', 'khan', 'patel', 'schmidt', 'romano', 'virtanen', 'horvat', 'popescu', 'yilmaz', 'sato', 'park', 'reyes',
];
const DOMAINS = ['gmail.com', 'outlook.com', 'yahoo.com', 'icloud.com', 'proton.me', 'web.de', 'example.org', 'acme.io'];

/**
 * The names and email of generated user `i`: first and last names from short lists and a
 * handful of mail domains, as a real user base repeats them (a search's trigrams are then
 * as common as in real data, not shared by every row), and the number for uniqueness.
 */
export function growthUser(i: number): { email: string; firstName: string; lastName: string } {
  const first = FIRST[i % FIRST.length] as string;
  const last = LAST[Math.floor(i / FIRST.length) % LAST.length] as string;
  const cap = (w: string): string => w.charAt(0).toUpperCase() + w.slice(1);
  return { email: `${first}.${last}${i}@${DOMAINS[(i * 7) % DOMAINS.length]}`, firstName: cap(first), lastName: cap(last) };
}
/** Users per bulk commit (three streams each). */
const USERS_PER_COMMIT = 250;
const COMMITS_IN_FLIGHT = 4;
/** Rotations of a long session per append. */
const LONG_CHUNK = 1000;

export interface GrowthSample {
  /** Emails of sampled users (password PASSWORD). */
  emails: string[];
  adminEmail: string;
  /** Refresh tokens of sampled ordinary sessions, and of the long ones. */
  tokens: string[];
  longTokens: string[];
  events: number;
}

/** Runs `tasks` with at most `concurrency` at a time. */
async function pool(count: number, concurrency: number, task: (i: number) => Promise<void>): Promise<void> {
  let next = 0;
  await Promise.all(Array.from({ length: Math.min(concurrency, count) }, async () => {
    while (next < count) await task(next++);
  }));
}

export async function fillGrowthStore(runtime: Runtime, shape: GrowthShape, passwordHash: string, log: (line: string) => void): Promise<GrowthSample> {
  const { store, codec, keys, secrets } = runtime;
  let clock = Date.now() - 40 * 86_400_000;
  const ctxFor = (actorId: string): EventContext => ({
    now: new Date((clock += 1)),
    correlationId: randomUUID(), causationId: null, actorId, requestId: randomUUID(),
    ip: '203.0.113.7', userAgent: 'authstream-bench/1.0 (generated growth store)',
  });
  const encode = (events: DomainEvent[], actorId: string): Promise<EventToAppend[]> => {
    const ctx = ctxFor(actorId);
    return Promise.all(events.map((e) => codec.encode(e, ctx, randomUUID())));
  };
  const expires = (): string => new Date(Date.now() + 30 * 86_400_000).toISOString();
  const sampleEvery = Math.max(1, Math.floor(shape.users / shape.sample));
  const sample: GrowthSample = { emails: [], adminEmail: '', tokens: [], longTokens: [], events: 0 };

  /** A session's events from revision `from`: started, then rotations; the last token minted for real when `keep`. */
  const sessionEvents = (sessionId: string, userId: string, from: number, count: number, keep: boolean): { events: DomainEvent[]; token: string } => {
    let token = '';
    const events = Array.from({ length: count }, (_, k): DomainEvent => {
      const revision = from + k;
      let hash = hashToken(randomUUID());
      if (keep && k === count - 1) {
        const minted = secrets.newRefreshToken(sessionId, BigInt(revision));
        token = minted.token;
        hash = minted.hash;
      }
      return revision === 0
        ? { type: 'SessionStarted', data: { session_id: sessionId, user_id: userId, refresh_token_hash: hash, expires_at: expires(), user_revision: '0', amr: ['pwd'] } }
        : { type: 'RefreshTokenRotated', data: { session_id: sessionId, user_id: userId, refresh_token_hash: hash, expires_at: expires() } };
    });
    return { events, token };
  };
  /** A user's reservation and registration. */
  const registration = async (userId: string, email: string, firstName: string, lastName: string, roles: string[]): Promise<StreamAppend[]> => [
    {
      streamId: identifierStream(secrets.identifierHash('email', email)), expectedRevision: 'no_stream',
      events: await encode([{ type: 'IdentifierClaimed', data: { user_id: userId, kind: 'email' } }], userId),
    },
    {
      streamId: userStream(userId), expectedRevision: 'no_stream',
      events: await encode([{
        type: 'UserRegistered',
        data: { user_id: userId, email, phone: null, first_name: firstName, last_name: lastName, password_hash: passwordHash, roles },
      }], userId),
    },
  ];

  const started = performance.now();
  const commits = Math.ceil(shape.users / USERS_PER_COMMIT);
  await pool(commits, COMMITS_IN_FLIGHT, async (c) => {
    const first = c * USERS_PER_COMMIT;
    const users = Array.from({ length: Math.min(USERS_PER_COMMIT, shape.users - first) }, (_, k) => ({ i: first + k, id: randomUUID(), session: randomUUID() }));
    await keys.createMany(users.map((u) => u.id));
    const appends: StreamAppend[] = [];
    for (const u of users) {
      const { email, firstName, lastName } = growthUser(u.i);
      const sampled = u.i % sampleEvery === 0;
      const admin = u.i === 0;
      appends.push(...(await registration(u.id, email, firstName, lastName, admin ? ['user', 'admin'] : ['user'])));
      const session = sessionEvents(u.session, u.id, 0, 1 + ROTATIONS_PER_USER, sampled);
      appends.push({ streamId: sessionStream(u.session), expectedRevision: 'no_stream', events: await encode(session.events, u.id) });
      if (sampled) sample.tokens.push(session.token);
      if (admin) sample.adminEmail = email;
      else if (sampled) sample.emails.push(email);
    }
    await store.appendToStreams(appends);
    sample.events += appends.reduce((n, a) => n + a.events.length, 0);
    if ((c + 1) % 400 === 0) log(`growth store: ${(c + 1) * USERS_PER_COMMIT} users, ${((performance.now() - started) / 1000).toFixed(0)} s`);
  });

  // The long sessions, each of a user of its own.
  await pool(shape.longSessions, 2, async (l) => {
    const userId = randomUUID();
    const sessionId = randomUUID();
    await keys.create(userId);
    await store.appendToStreams(await registration(userId, `long-session-${l}@example.org`, 'Long', `Session ${l}`, ['user']));
    const total = 1 + shape.longRotations;
    for (let from = 0; from < total; from += LONG_CHUNK) {
      const count = Math.min(LONG_CHUNK, total - from);
      const session = sessionEvents(sessionId, userId, from, count, from + count === total);
      await store.appendToStream(sessionStream(sessionId), await encode(session.events, userId), {
        expectedRevision: from === 0 ? 'no_stream' : BigInt(from - 1),
      });
      sample.events += count;
      if (session.token) sample.longTokens.push(session.token);
    }
    sample.events += 2;
  });
  return sample;
}
