/**
 * Keeps the growth scenario working: two tiny stores (GROWTH_MODES.test), each filled,
 * rebuilt and served, every scenario answered with no failure, the ratios computed and the
 * table printed. Timing numbers are not judged here (a loaded CI machine says nothing).
 */
import t from 'tap';
import { serverAnswers } from '../../bench/db.js';
import { GROWTH_MODES, GROWTH_SCENARIOS, growthTable, measureGrowth } from '../../bench/growth.js';
import { MODES, SERVICE_ENV } from '../../bench/suite.js';

if (!(await serverAnswers())) {
  if (process.env.REQUIRE_PG_SERVER === '1') t.fail('REQUIRE_PG_SERVER=1 but no PostgreSQL server answers');
  else t.plan(0, 'the growth scenario needs a PostgreSQL server');
} else {
  t.test('the growth scenario measures every size and scenario', async (t) => {
    const m = MODES.test;
    // Half a second a scenario: this keeps the harness working, it measures nothing.
    const shape = { connections: m.connections.http, seconds: 0.5, maxRequests: m.maxRequests.http };
    const result = await measureGrowth({
      ...GROWTH_MODES.test, http: shape, argon2: { ...shape, connections: m.connections.argon2 }, warmupSeconds: 0,
      serviceEnv: SERVICE_ENV, log: (line) => t.comment(line),
    });
    t.equal(result.sizes.length, GROWTH_MODES.test.sizes.length);
    for (const size of result.sizes) {
      const { users, longSessions, longRotations } = { ...GROWTH_MODES.test, users: size.users };
      t.ok(size.store_events >= users * 5 + longSessions * (longRotations + 3), `${users} users: ${size.store_events} events`);
      t.ok(size.rebuild.events_per_s > 0, 'the rebuild was timed');
      for (const name of GROWTH_SCENARIOS) {
        const s = size.scenarios[name];
        t.ok(s && s.rps > 0 && s.failed === 0, `${users} users, ${name}: answered, none failed (${JSON.stringify(s)})`);
        t.ok(s && s.service_cpu_ms > 0, `${name}: its CPU counted`);
      }
      t.ok(size.relations.some((r) => r.name === 'eventstore.events' && r.table_mib > 0), 'table sizes read');
    }
    for (const name of GROWTH_SCENARIOS) t.ok(Number.isFinite(result.cost_ratio[name]), `${name}: a cost ratio`);
    t.match(growthTable(result), /cost at the largest size ÷ the smallest/);
  });
}
