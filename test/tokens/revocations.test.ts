import t from 'tap';
import type { Decoded } from '../../src/ports/events.js';
import { revokedSessionsSince } from '../../src/projections/sessions/queries.js';
import { RevocationSet } from '../../src/tokens/revocations.js';
import { ALICE, S, Writer, makeRunner, openEnv, runScenario, until } from '../helpers/projections.js';

const HOUR = 3_600_000;

function revoked(sessionId: string, at: Date, position = 1n): Decoded {
  return {
    type: 'SessionRevoked', id: `e-${sessionId}`, streamId: `session-${sessionId}`, revision: 1n, position, occurredAt: at, recordedAt: at,
    data: { session_id: sessionId, user_id: ALICE, reason: 'logout' },
    metadata: { correlation_id: null, causation_id: null, actor_id: null, request_id: null, ip: null, user_agent: null, schema_version: 1 },
    shredded: false,
  };
}

void t.test('the set: mark, load, apply, prune', async (t) => {
  let now = Date.parse('2030-01-01T00:00:00Z');
  const set = new RevocationSet({ horizonMs: 2 * HOUR, pruneEveryMs: HOUR, now: () => now });
  t.equal(set.name, 'revocations');
  t.notOk(set.isRevoked(S.a1));

  set.markRevoked([S.a1]);
  t.ok(set.isRevoked(S.a1), 'the command path marks at once');
  t.ok(set.isRevoked(S.a1.toUpperCase()), 'ids compare case-insensitively');

  set.apply([
    revoked(S.a2, new Date(now)),
    { ...revoked(S.a3, new Date(now)), type: 'SessionStarted' } as unknown as Decoded,
    revoked(S.b1, new Date(now - 3 * HOUR)),
  ]);
  t.ok(set.isRevoked(S.a2), 'SessionRevoked adds');
  t.notOk(set.isRevoked(S.a3), 'other events do not');
  t.notOk(set.isRevoked(S.b1), 'a revocation older than the horizon does not matter');

  set.load([S.c1]);
  t.ok(set.isRevoked(S.c1));
  t.equal(set.size, 3);

  now += 90 * 60_000;
  set.markRevoked([S.b2]); // 90 min later: a1, a2, c1 are 1.5 h old, inside the horizon
  t.equal(set.size, 4);
  now += 60 * 60_000;
  set.markRevoked([S.b1]); // 2.5 h after the first ones: they are pruned on this insert
  t.same([S.a1, S.a2, S.c1].map((id) => set.isRevoked(id)), [false, false, false], 'old entries pruned');
  t.ok(set.isRevoked(S.b2) && set.isRevoked(S.b1));
  now += 3 * HOUR;
  t.equal(set.prune(), 2, 'explicit prune');
  t.equal(set.size, 0);
});

void t.test('fed by the runner, warmed from the read model', async (t) => {
  const env = await openEnv(t);
  const w = new Writer(env);
  const first = makeRunner(env, t);
  await first.runner.start();
  const last = await runScenario(w);
  t.ok(await first.runner.waitFor(last.position, 10_000));
  await first.runner.stop();

  // Start-up of a new instance: load from the read model, then follow from the head.
  const set = new RevocationSet({ horizonMs: 100 * 365 * 24 * HOUR });
  const head = await env.store.headPosition();
  set.load(await revokedSessionsSince(env.sql, new Date(0)));
  t.same([S.a1, S.a2, S.a3, S.b1, S.b2, S.c1].map((id) => set.isRevoked(id)), [false, true, true, true, true, true]);

  const { runner, log } = makeRunner(env, t);
  runner.addConsumer(set, head);
  await runner.start();
  const r = await w.revoke(ALICE, S.a1, 'revoked_by_user');
  t.ok(await until(() => set.isRevoked(S.a1)), 'a revocation from another instance arrives through the runner');
  t.ok((runner.positions().get('revocations') ?? 0n) >= r.position);
  t.same(log.errors, []);
});
