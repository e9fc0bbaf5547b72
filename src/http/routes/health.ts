/** Liveness and readiness: ready means both stores answer and projections keep up. */
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { Type } from '@sinclair/typebox';
import type { Runtime } from '../../composition/runtime.js';

const Check = Type.Object({ ok: Type.Boolean(), latency_ms: Type.Number() });
const Ready = Type.Object({
  event_store: Check,
  read_db: Check,
  projections: Type.Object({ lag_events: Type.Integer() }),
});

/** Readiness fails when a projection is this far behind. */
const MAX_READY_LAG = 10_000;

async function timed(fn: () => Promise<unknown>, timeoutMs = 2000): Promise<{ ok: boolean; latency_ms: number }> {
  const start = performance.now();
  let timer: NodeJS.Timeout | undefined;
  try {
    await Promise.race([
      fn(),
      new Promise((_, reject) => { timer = setTimeout(() => reject(new Error('timeout')), timeoutMs); }),
    ]);
    return { ok: true, latency_ms: Math.round((performance.now() - start) * 100) / 100 };
  } catch {
    return { ok: false, latency_ms: Math.round((performance.now() - start) * 100) / 100 };
  } finally {
    clearTimeout(timer);
  }
}

export const healthRoutes: FastifyPluginAsyncTypebox<{ runtime: Runtime }> = async (app, { runtime }) => {
  // Probes come every few seconds: their requests are logged only when something is wrong.
  app.get('/live', {
    logLevel: 'warn',
    schema: { tags: ['operations'], summary: 'The process is up', response: { 200: Type.Object({ status: Type.Literal('ok') }) } },
  }, async () => ({ status: 'ok' as const }));

  app.get('/ready', {
    logLevel: 'warn',
    schema: { tags: ['operations'], summary: 'The stores answer and projections keep up', response: { 200: Ready, 503: Ready } },
  }, async (_request, reply) => {
    const [eventStore, readDb] = await Promise.all([
      timed(() => runtime.store.ping()),
      timed(() => runtime.sql.query('select 1')),
    ]);
    let lag = 0;
    if (eventStore.ok && readDb.ok) {
      try {
        lag = Math.max(0, ...(await runtime.projections.status()).map((p) => p.lag_events));
      } catch {
        lag = -1;
      }
    }
    const body = { event_store: eventStore, read_db: readDb, projections: { lag_events: lag } };
    const ready = eventStore.ok && readDb.ok && lag >= 0 && lag < MAX_READY_LAG;
    return reply.code(ready ? 200 : 503).send(body);
  });
};
