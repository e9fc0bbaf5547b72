/**
 * WebhookSmsTransport against a real HTTP server in the test process: the JSON it posts, the
 * bearer token only when configured, the idempotency key, and how answers map to DeliveryError
 * (4xx permanent; 408, 429, 5xx, unreachable and timed out transient), never naming the number.
 */
import t from 'tap';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { WebhookSmsTransport } from '../../../src/infra/messaging/smsWebhook.js';
import { DeliveryError, type OutgoingSms } from '../../../src/ports/messages.js';
import { codeIn, startSmsSink } from '../../helpers/mailbox.js';

type Tap = Parameters<Parameters<typeof t.test>[0]>[0];

let n = 0;
const sms = (): OutgoingSms => ({
  id: `0190c3e0-7a4b-7cde-8f00-0000000000${String(n++).padStart(2, '0')}`,
  to: '+33612345678',
  body: '482913 is your Acme verification code. It expires in 10 minutes.',
});

async function failure(t: Tap, send: Promise<void>, m: OutgoingSms): Promise<DeliveryError> {
  const err = await send.then(() => undefined, (e: unknown) => e);
  if (!(err instanceof DeliveryError)) throw new Error(`expected a DeliveryError, got ${String(err)}`);
  for (const secret of [m.to, '612345678', '482913', m.body]) t.notMatch(err.message, secret, 'nothing personal in the message');
  return err;
}

t.test('posts the message as JSON with a bearer token and an idempotency key', async (t) => {
  const sink = await startSmsSink(t);
  const webhook = new WebhookSmsTransport({ url: sink.url, token: 'tok-123' });
  t.teardown(() => webhook.close());
  t.equal(webhook.name, 'webhook');
  const m = sms();
  await webhook.send(m);
  const got = await sink.waitFor((x) => x.headers['idempotency-key'] === m.id);
  t.same({ to: got.to, body: got.body }, { to: m.to, body: m.body });
  t.equal(codeIn(got.body), '482913');
  t.equal(got.headers.authorization, 'Bearer tok-123');
  t.match(got.headers['content-type'], /^application\/json/);
});

t.test('no Authorization header without a token', async (t) => {
  const sink = await startSmsSink(t);
  for (const token of [undefined, '']) {
    const m = sms();
    await new WebhookSmsTransport({ url: sink.url, token }).send(m);
    const got = await sink.waitFor((x) => x.headers['idempotency-key'] === m.id);
    t.equal(got.headers.authorization, undefined, `token ${JSON.stringify(token)}`);
  }
});

t.test('answers map to permanent or transient failures', async (t) => {
  const sink = await startSmsSink(t);
  const webhook = new WebhookSmsTransport({ url: sink.url });
  const table: [number, boolean][] = [
    [400, true], [401, true], [403, true], [404, true], [422, true], [301, true],
    [408, false], [429, false], [500, false], [502, false], [503, false],
  ];
  for (const [status, permanent] of table) {
    sink.failNext(1, status);
    const m = sms();
    const err = await failure(t, webhook.send(m), m);
    t.equal(err.message, `sms webhook answered ${status}`);
    t.equal(err.permanent, permanent, `${status} permanent: ${permanent}`);
  }
  t.equal(sink.messages.length, 0);
  const m = sms();
  await webhook.send(m);
  t.equal(sink.messages.length, 1, 'a 2xx is a delivery');
});

t.test('an unreachable endpoint is a transient failure', async (t) => {
  const closed = http.createServer();
  await new Promise<void>((resolve) => closed.listen(0, '127.0.0.1', resolve));
  const port = (closed.address() as AddressInfo).port;
  await new Promise<void>((resolve) => closed.close(() => resolve()));
  const m = sms();
  const err = await failure(t, new WebhookSmsTransport({ url: `http://127.0.0.1:${port}/sms` }).send(m), m);
  t.equal(err.message, 'sms webhook unreachable (ECONNREFUSED)');
  t.equal(err.permanent, false);
});

t.test('an endpoint that does not answer in time is a transient failure', async (t) => {
  const stalled = http.createServer(() => {}); // reads the request, never answers
  await new Promise<void>((resolve) => stalled.listen(0, '127.0.0.1', resolve));
  t.teardown(() => new Promise<void>((resolve) => {
    stalled.closeAllConnections();
    stalled.close(() => resolve());
  }));
  const url = `http://127.0.0.1:${(stalled.address() as AddressInfo).port}/sms`;
  const m = sms();
  const started = Date.now();
  const err = await failure(t, new WebhookSmsTransport({ url, timeoutMs: 150 }).send(m), m);
  t.equal(err.message, 'sms webhook timed out');
  t.equal(err.permanent, false);
  t.ok(Date.now() - started < 3000, 'bounded by the configured timeout');
});

t.test('the URL must be http or https', async (t) => {
  t.throws(() => new WebhookSmsTransport({ url: 'ftp://sms.example.com' }), /http:\/\/ or https:\/\//);
  t.throws(() => new WebhookSmsTransport({ url: 'sms.example.com/send' }), /not a valid URL/);
});
