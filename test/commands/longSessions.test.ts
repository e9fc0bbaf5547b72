/**
 * Sessions refreshed for a long time: a cold read of one (another instance, a restart)
 * reads its first event and its newest SESSION_WINDOW, however long the stream; a token
 * retired long ago is still recognised (theft) by the one event that issued it, and a
 * forged one is not; tokens from before generations keep working.
 */
import { randomBytes } from 'node:crypto';
import t from 'tap';
import { logoutByRefreshToken } from '../../src/commands/logout.js';
import { rotateRefresh } from '../../src/commands/rotateRefresh.js';
import { load } from '../../src/commands/load.js';
import { StateCache } from '../../src/commands/stateCache.js';
import type { CommandDeps } from '../../src/commands/handle.js';
import { sessionStream, type Recorded, type SessionEvent } from '../../src/domain/events.js';
import { LOST_RACE_WINDOW_MS, SESSION_WINDOW, SessionAggregate, evolveSession, initialSession } from '../../src/domain/session/session.js';
import { hashToken } from '../../src/infra/secrets.js';
import type { EventStore, RecordedEvent } from '../../src/ports/eventStore.js';
import { email, register, typesOf } from '../helpers/commands.js';
import { openMemoryEnv, type MemoryEnv } from '../helpers/memoryCommands.js';

const PASSWORD = 'granite-Falcon-31';
const ROTATIONS = 300;

/** Another instance (its own, empty state cache) whose store counts the events it hands out. */
function coldInstance(env: MemoryEnv): { deps: CommandDeps; eventsRead: () => number } {
  let read = 0;
  const count = (events: RecordedEvent[]): RecordedEvent[] => ((read += events.length), events);
  const reads: Partial<EventStore> = {
    readStream: async (...args) => count(await env.store.readStream(...args)),
    readStreams: async (...args) => (await env.store.readStreams(...args)).map(count),
  };
  const store = new Proxy(env.store, {
    get: (target, name: keyof EventStore) => reads[name] ?? (typeof target[name] === 'function' ? (target[name] as () => unknown).bind(target) : target[name]),
  });
  return { deps: env.withDeps({ store, states: new StateCache() }), eventsRead: () => read };
}

/** A session refreshed ROTATIONS times, a second apart; every token it handed out, oldest first. */
async function longSession(env: MemoryEnv, kind: string): Promise<{ sessionId: string; tokens: string[] }> {
  const r = await register(env, { email: email(kind), password: PASSWORD });
  const tokens = [r.refreshToken];
  for (let i = 0; i < ROTATIONS; i++) {
    env.clock.advance(1000);
    tokens.push((await rotateRefresh(env.deps, tokens.at(-1) ?? '', env.ctx())).refreshToken);
  }
  env.clock.advance(LOST_RACE_WINDOW_MS + 1);
  return { sessionId: r.sessionId, tokens };
}

void t.test('long sessions', async (t) => {
  const env = await openMemoryEnv(t);

  await t.test('a cold load reads the first event and the newest SESSION_WINDOW, and folds to the whole stream\'s state', async (t) => {
    const { sessionId } = await longSession(env, 'cold');
    const cold = coldInstance(env);
    const { state, revision } = await load(cold.deps, sessionStream(sessionId), SessionAggregate);
    t.equal(cold.eventsRead(), 1 + SESSION_WINDOW, `${1 + SESSION_WINDOW} events read of ${ROTATIONS + 1}`);
    t.equal(revision, BigInt(ROTATIONS));
    const whole = (await env.stream(sessionStream(sessionId))) as Recorded<SessionEvent>[];
    t.strictSame(state, whole.reduce(evolveSession, initialSession()), 'the same state as folding every event');
  });

  await t.test('the current token rotates on a cold instance with a bounded read', async (t) => {
    const { sessionId, tokens } = await longSession(env, 'cold-rotate');
    const cold = coldInstance(env);
    const next = await rotateRefresh(cold.deps, tokens.at(-1) ?? '', env.ctx());
    t.equal(next.sessionId, sessionId);
    t.ok(cold.eventsRead() <= 1 + SESSION_WINDOW + 2, `${cold.eventsRead()} events read (the session's window and the user's)`);
    t.equal(env.deps.secrets.parseRefreshToken(next.refreshToken)?.generation, BigInt(ROTATIONS + 1),
      'the new token names the revision of the event that recorded it');
  });

  await t.test('the first token, retired hundreds of rotations ago, is theft: found by reading the one event that issued it', async (t) => {
    const { sessionId, tokens } = await longSession(env, 'old-theft');
    const cold = coldInstance(env);
    await t.rejects(rotateRefresh(cold.deps, tokens[0] ?? '', env.ctx()), { code: 'token_reused' });
    t.ok(cold.eventsRead() <= 1 + SESSION_WINDOW + 1 + 2, `${cold.eventsRead()} events read, not ${ROTATIONS + 1}`);
    t.strictSame(typesOf(await env.stream(sessionStream(sessionId))).slice(-2), ['RefreshTokenReuseDetected', 'SessionRevoked']);
    await t.rejects(rotateRefresh(env.deps, tokens.at(-1) ?? '', env.ctx()), { code: 'invalid_token' }, 'the newest token stops working');
  });

  await t.test('a forged token naming an old generation, or one past the end, changes nothing', async (t) => {
    const { sessionId, tokens } = await longSession(env, 'forged');
    const sid = Buffer.from(sessionId.replace(/-/g, ''), 'hex');
    const forge = (generation: number): string => {
      const g = Buffer.alloc(4);
      g.writeUInt32BE(generation);
      return Buffer.concat([sid, g, randomBytes(32)]).toString('base64url');
    };
    for (const generation of [0, 5, ROTATIONS - 1, ROTATIONS, ROTATIONS + 1, 2 ** 32 - 1]) {
      await t.rejects(rotateRefresh(coldInstance(env).deps, forge(generation), env.ctx()), { code: 'invalid_token' }, `generation ${generation}`);
      t.equal(await logoutByRefreshToken(coldInstance(env).deps, forge(generation), env.ctx()), null, `logout with generation ${generation}: nothing`);
    }
    const mislabelled = Buffer.from(tokens[3] ?? '', 'base64url');
    mislabelled.writeUInt32BE(4, 16);
    await t.rejects(rotateRefresh(env.deps, mislabelled.toString('base64url'), env.ctx()), { code: 'invalid_token' },
      'a real token with its generation changed is a different token');
    t.equal((await env.stream(sessionStream(sessionId))).length, ROTATIONS + 1, 'nothing recorded');
    t.ok((await rotateRefresh(env.deps, tokens.at(-1) ?? '', env.ctx())).refreshToken, 'the real token still rotates');
  });

  await t.test('logout with a long-retired token revokes the session (it was the holder\'s)', async (t) => {
    const { sessionId, tokens } = await longSession(env, 'old-logout');
    t.not(await logoutByRefreshToken(coldInstance(env).deps, tokens[1] ?? '', env.ctx()), null);
    t.equal(typesOf(await env.stream(sessionStream(sessionId))).at(-1), 'SessionRevoked');
  });

  await t.test('a token from before generations (48 bytes) rotates, and replayed later is theft', async (t) => {
    const r = await register(env, { email: email('legacy'), password: PASSWORD });
    const legacy = Buffer.concat([Buffer.from(r.sessionId.replace(/-/g, ''), 'hex'), randomBytes(32)]).toString('base64url');
    t.equal(legacy.length, 64);
    // The session as an older release wrote it: its first event records the legacy token.
    const sid = '7f000000-0000-4000-8000-00000000abcd';
    const old = Buffer.concat([Buffer.from(sid.replace(/-/g, ''), 'hex'), randomBytes(32)]).toString('base64url');
    const now = env.ctx().now;
    await env.store.appendToStream(sessionStream(sid), [await env.deps.codec.encode({
      type: 'SessionStarted',
      data: {
        session_id: sid, user_id: r.user.id, refresh_token_hash: hashToken(old),
        expires_at: new Date(now.getTime() + 86_400_000).toISOString(), user_revision: '0',
      },
    }, env.ctx(), '0f000000-0000-4000-8000-000000000001')], { expectedRevision: 'no_stream' });
    t.equal(env.deps.secrets.parseRefreshToken(old)?.generation, null, 'parsed, with no generation');
    const next = await rotateRefresh(env.deps, old, env.ctx());
    t.equal(next.sessionId, sid, 'it rotates');
    t.equal(next.refreshToken.length, 70, 'into a token with a generation');
    const rest = [next.refreshToken];
    for (let i = 0; i < SESSION_WINDOW + 5; i++) rest.push((await rotateRefresh(env.deps, rest.at(-1) ?? '', env.ctx())).refreshToken);
    env.clock.advance(LOST_RACE_WINDOW_MS + 1);
    await t.rejects(rotateRefresh(coldInstance(env).deps, old, env.ctx()), { code: 'token_reused' },
      'replayed after it left the window: found in the whole stream, theft');
  });
});
