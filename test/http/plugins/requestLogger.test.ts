import Fastify, { type FastifyInstance } from 'fastify';
import { Writable } from 'node:stream';
import t from 'tap';
import { REDACT } from '../../../src/http/app.js';
import { lazyChildLogger } from '../../../src/http/plugins/requestLogger.js';

/** A Fastify app with the lazy request loggers, its log lines, and a count of pino children made. */
async function appAt(level: string): Promise<{ app: FastifyInstance; lines: () => Record<string, unknown>[]; children: () => number }> {
  const written: string[] = [];
  const stream = new Writable({
    write(chunk, _enc, cb) {
      written.push(String(chunk));
      cb();
    },
  });
  const app = Fastify({ logger: { level, stream, redact: { paths: REDACT, censor: '[redacted]' } }, childLoggerFactory: lazyChildLogger });
  let children = 0;
  const child = app.log.child.bind(app.log);
  app.log.child = (...args: Parameters<typeof child>) => {
    children += 1;
    return child(...args);
  };
  app.get('/quiet', async () => ({ ok: true }));
  app.get('/chatty', async (request) => {
    request.log.info('below the level');
    request.log.debug('below the level');
    return { ok: true };
  });
  app.get('/loud', async (request) => {
    request.log.warn({ user: { password: 'hunter2' } }, 'loud');
    request.log.error('louder');
    return { ok: true };
  });
  app.get('/route-level', { logLevel: 'debug' }, async (request) => {
    request.log.debug('debug on this route');
    return { ok: true };
  });
  await app.ready();
  return {
    app,
    lines: () => written.map((l) => JSON.parse(l) as Record<string, unknown>),
    children: () => children,
  };
}

void t.test('at warn: no child logger for requests that log nothing at their level', async (t) => {
  const { app, lines, children } = await appAt('warn');
  t.teardown(() => app.close());
  for (const url of ['/quiet', '/chatty']) t.equal((await app.inject({ url })).statusCode, 200);
  t.equal(children(), 0, 'no pino child was made');
  t.same(lines(), [], 'and nothing was written');

  const res = await app.inject({ url: '/loud' });
  t.equal(children(), 1, 'one child, made by the first line that passes, reused by the second');
  const [warn, error] = lines();
  t.match(warn, { level: 40, msg: 'loud', reqId: res.headers['request-id'] ?? String, user: { password: '[redacted]' } },
    'the line is the child\'s: request id bound, redaction applied');
  t.match(error, { level: 50, msg: 'louder', reqId: warn?.reqId });

  await app.inject({ url: '/route-level' });
  t.ok(lines().some((l) => l.level === 20 && l.msg === 'debug on this route'), 'a route\'s own log level applies');
});

void t.test('at info: Fastify\'s request lines carry the request id as before', async (t) => {
  const { app, lines, children } = await appAt('info');
  t.teardown(() => app.close());
  await app.inject({ url: '/quiet' });
  const [incoming, completed] = lines();
  t.match(incoming, { msg: 'incoming request', reqId: String });
  t.match(completed, { msg: 'request completed', reqId: incoming?.reqId });
  t.equal(children(), 1);
});
