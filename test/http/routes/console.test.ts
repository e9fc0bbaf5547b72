/**
 * /console: the page and its assets with the strict CSP, caching by content hash and ETag,
 * a clear 404 when the console is not built, and nothing at all with CONSOLE_ENABLED=false.
 */
import t, { type Test } from 'tap';
import Fastify from 'fastify';
import { mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CONSOLE_CSP, consoleRoutes, defaultConsoleDir } from '../../../src/http/routes/console.js';
import { installErrorHandling } from '../../../src/http/problem.js';
import { buildTestApp } from '../../helpers/app.js';
import { expectProblem } from '../../helpers/http.js';

async function appOn(t: Test, dir: string) {
  const app = Fastify({ routerOptions: { ignoreTrailingSlash: true } }); // as the service's
  installErrorHandling(app);
  await app.register(consoleRoutes, { dir });
  t.teardown(() => app.close());
  return app;
}

t.test('a built console: the page, hashed assets for good, ETags', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'console-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  mkdirSync(join(dir, 'assets'));
  writeFileSync(join(dir, 'index.html'), '<!doctype html><title>x</title><script type="module" src="/console/assets/app-ABCDEFGH.js"></script>');
  writeFileSync(join(dir, 'assets', 'app-ABCDEFGH.js'), 'console.log(1)');
  writeFileSync(join(dir, 'assets', 'icon.svg'), '<svg xmlns="http://www.w3.org/2000/svg"/>');
  const app = await appOn(t, dir);

  for (const url of ['/console', '/console/']) {
    const page = await app.inject({ url });
    t.equal(page.statusCode, 200, url);
    t.equal(page.headers['content-type'], 'text/html; charset=utf-8');
    t.equal(page.headers['content-security-policy'], CONSOLE_CSP);
    t.equal(page.headers['cache-control'], 'no-cache', 'the page is asked for every time');
    t.equal(page.headers['x-frame-options'], 'DENY');
    t.match(page.body, 'app-ABCDEFGH.js');
  }
  t.match(CONSOLE_CSP, /default-src 'none'/);
  t.notMatch(CONSOLE_CSP, /unsafe-inline|unsafe-eval|\*/, 'no inline code, no eval, no wildcard');

  const page = await app.inject({ url: '/console' });
  const again = await app.inject({ url: '/console', headers: { 'if-none-match': String(page.headers.etag) } });
  t.equal(again.statusCode, 304, 'an unchanged page: 304');
  t.equal(again.body, '');

  const js = await app.inject({ url: '/console/assets/app-ABCDEFGH.js' });
  t.equal(js.statusCode, 200);
  t.equal(js.headers['content-type'], 'text/javascript; charset=utf-8');
  t.equal(js.headers['cache-control'], 'public, max-age=31536000, immutable', 'a hashed name is cached for good');
  t.equal(js.headers['content-security-policy'], CONSOLE_CSP);
  const icon = await app.inject({ url: '/console/assets/icon.svg' });
  t.equal(icon.headers['content-type'], 'image/svg+xml');
  t.equal(icon.headers['cache-control'], 'public, max-age=3600', 'an unhashed name for an hour');

  expectProblem(t, await app.inject({ url: '/console/assets/nope.js' }), 404, 'not_found');
  expectProblem(t, await app.inject({ url: '/console/assets/..%2Findex.html' }), 404, 'not_found', 'no path out of the folder');
});

t.test('a console that is not built: 404 that says how to build it', async (t) => {
  const app = await appOn(t, join(tmpdir(), 'no-such-console-dir'));
  const res = await app.inject({ url: '/console' });
  const body = expectProblem(t, res, 404, 'not_found');
  t.match(body.detail, /npm run build/);
});

t.test('in the service: the built console, and CONSOLE_ENABLED=false', async (t) => {
  const built = readdirSync(join(defaultConsoleDir(), 'assets')).find((f) => /^app-.*\.js$/.test(f));
  t.ok(built, 'dist/console holds the bundle (npm ci builds it)');
  const { app } = await buildTestApp(t);
  const page = await app.inject({ url: '/console' });
  t.equal(page.statusCode, 200);
  t.equal(page.headers['content-security-policy'], CONSOLE_CSP);
  t.match(page.body, `/console/assets/${built}`);
  t.equal((await app.inject({ url: `/console/assets/${built}` })).statusCode, 200);
  // Answers outside the console keep the service's own headers (no page CSP on the API).
  t.equal((await app.inject({ url: '/health/live' })).headers['content-security-policy'], undefined);

  const off = await buildTestApp(t, { CONSOLE_ENABLED: 'false' });
  expectProblem(t, await off.app.inject({ url: '/console' }), 404, 'not_found');
});
