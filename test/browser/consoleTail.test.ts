/**
 * The console's live tail when the service ends the stream: an `overflow` (the page fell
 * behind) and an expired token. A real service cannot be made to overflow a browser on
 * cue, so the page talks here to a small HTTP peer in the test process that serves the
 * built console and plays the service's side of the SSE protocol (frames as in
 * src/http/routes/admin/sse.ts). The page must say what happened, resume with
 * Last-Event-ID from the last event it got, refresh the token first when it expired, and
 * show every event once.
 */
import t from 'tap';
import Fastify from 'fastify';
import { execFileSync } from 'node:child_process';
import { consoleRoutes, defaultConsoleDir } from '../../src/http/routes/console.js';
import { launchChromium } from '../helpers/browser.js';

execFileSync(process.execPath, ['scripts/build-if-stale.mjs'], { stdio: 'inherit' });

const user = {
  id: '00000000-0000-4000-8000-000000000001', email: 'op@example.com', phone: null, email_verified: true, phone_verified: false,
  first_name: '', last_name: '', roles: ['user', 'admin'], status: 'active', created_at: '2026-01-01T00:00:00Z', updated_at: '2026-01-01T00:00:00Z',
};
const event = (position: number) => ({
  id: `00000000-0000-4000-8000-${String(position).padStart(12, '0')}`, type: 'UserRegistered', stream_id: `user-${position}`,
  revision: '0', position: String(position), occurred_at: '2026-01-01T00:00:00Z', data: { n: position }, metadata: {},
});
const frame = (position: number): string => `id: ${position}\nevent: UserRegistered\ndata: ${JSON.stringify(event(position))}\n\n`;

t.test('overflow and an expired token: resumed from the last id, every event once', async (t) => {
  const app = Fastify();
  await app.register(consoleRoutes, { dir: defaultConsoleDir() });
  const tails: { lastEventId: string | undefined; authorization: string | undefined }[] = [];
  let refreshes = 0;
  let generation = 0;
  const tokens = () => ({
    access_token: `access-${generation}`, token_type: 'Bearer', expires_in: 300, refresh_token: `refresh-${generation}`,
    refresh_expires_in: 2592000, session_id: '00000000-0000-4000-8000-00000000000a', user,
  });
  app.post('/v1/auth/login', async () => tokens());
  app.post('/v1/auth/refresh', async () => {
    refreshes++;
    generation++;
    return tokens();
  });
  app.get('/v1/admin/projections', async () => ({ projections: [{ head: '0' }], reactors: [], parked_events: 0 }));
  app.get('/v1/admin/events', (request, reply) => {
    const lastEventId = request.headers['last-event-id'] as string | undefined;
    tails.push({ lastEventId, authorization: request.headers.authorization });
    reply.hijack();
    const res = reply.raw;
    res.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-store' });
    switch (tails.length) {
      case 1: // three events, then the page "fell behind"
        res.end(`${frame(1)}${frame(2)}${frame(3)}event: overflow\ndata: ${JSON.stringify({ last_event_id: '3' })}\n\n`);
        return;
      case 2: // two more, then the token expired
        res.end(`: ping\n\n${frame(4)}${frame(5)}event: end\ndata: ${JSON.stringify({ reason: 'token_expired', last_event_id: '5' })}\n\n`);
        return;
      default: // the rest, and the stream stays open
        res.write(frame(6));
        request.raw.on('close', () => res.end());
    }
  });
  await app.listen({ port: 0, host: '127.0.0.1' });
  t.teardown(() => app.close());
  const origin = `http://127.0.0.1:${(app.server.address() as { port: number }).port}`;

  const browser = await launchChromium();
  t.teardown(() => browser.close());
  const tab = await browser.newPage();
  await tab.goto(`${origin}/console#/tail`);
  await tab.getByLabel('Email or phone').fill(user.email);
  await tab.getByLabel('Password').fill('whatever it is');
  await tab.getByRole('button', { name: 'Sign in' }).click();
  await tab.locator('li.event').filter({ hasText: 'user-6' }).waitFor();

  const streams = await tab.locator('li.event .stream').allTextContents();
  t.same(streams, ['user-6', 'user-5', 'user-4', 'user-3', 'user-2', 'user-1'], 'every event once, newest first');
  t.same(tails.map((x) => x.lastEventId), ['0', '3', '5'], 'from now (the head), then resumed after the last id each time');
  t.equal(refreshes, 1, 'the expired token was refreshed before resuming');
  t.same(tails.map((x) => x.authorization), ['Bearer access-0', 'Bearer access-0', 'Bearer access-1'], 'with the new token');
  t.match(await tab.locator('#tail-counts').textContent(), /6 received · last position 6 · overflows 1/);
  t.match(await tab.getByRole('status').first().textContent(), /token_expired/);
  t.equal(await tab.locator('#tail-state').textContent(), 'live');
});
