/**
 * The webhook sender against real HTTP servers on 127.0.0.1: signatures the Standard
 * Webhooks reference library accepts, no redirect followed, answers read up to a limit,
 * timeouts, blocked addresses refused at connect time; and the URL policy.
 */
import t from 'tap';
import http from 'node:http';
import { once } from 'node:events';
import type { AddressInfo } from 'node:net';
import { Webhook } from 'standardwebhooks';
import { HttpWebhookSender } from '../../../src/infra/webhooks/httpSender.js';
import { checkWebhookUrl, isBlockedAddress } from '../../../src/infra/webhooks/policy.js';
import { signWebhook } from '../../../src/infra/webhooks/signing.js';
import { createSecrets } from '../../../src/infra/secrets.js';
import { randomBytes } from 'node:crypto';

async function server(t: Tap, handler: http.RequestListener): Promise<{ url: string; hits: number }> {
  const s = { url: '', hits: 0 };
  const srv = http.createServer((req, res) => {
    s.hits += 1;
    handler(req, res);
  });
  srv.listen(0, '127.0.0.1');
  await once(srv, 'listening');
  t.teardown(() => new Promise<void>((r) => {
    srv.closeAllConnections();
    srv.close(() => r());
  }));
  s.url = `http://127.0.0.1:${(srv.address() as AddressInfo).port}/hook`;
  return s;
}
type Tap = Parameters<Parameters<typeof t.test>[0]>[0];

const policy = { allowHttp: true, allowPrivate: false };
const secret = createSecrets(randomBytes(32)).newWebhookSecret();

void t.test('signed as the Standard Webhooks library verifies', async (t) => {
  const seen: { body: string; headers: http.IncomingHttpHeaders }[] = [];
  const s = await server(t, (req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      seen.push({ body: Buffer.concat(chunks).toString(), headers: req.headers });
      res.writeHead(204).end();
    });
  });
  const sender = new HttpWebhookSender({ policy });
  const body = JSON.stringify({ type: 'UserRegistered', timestamp: new Date().toISOString(), data: { ü: 'ß', n: 1 } });
  const r = await sender.send({ url: s.url, secret, id: 'msg_2KWPBgLlAfxdpx2AI54pPJ85f4W', body });
  t.match(r, { ok: true, status: 204, error: null });
  const got = seen[0];
  t.equal(got?.body, body);
  t.match(got?.headers, { 'content-type': 'application/json', 'webhook-id': 'msg_2KWPBgLlAfxdpx2AI54pPJ85f4W', 'webhook-signature': /^v1,/ });
  const headers = {
    'webhook-id': String(got?.headers['webhook-id']), 'webhook-timestamp': String(got?.headers['webhook-timestamp']),
    'webhook-signature': String(got?.headers['webhook-signature']),
  };
  t.doesNotThrow(() => new Webhook(secret).verify(body, headers), 'the reference library accepts it');
  t.throws(() => new Webhook(secret).verify(`${body} `, headers), 'a changed body is refused');
  t.throws(() => new Webhook(createSecrets(randomBytes(32)).newWebhookSecret()).verify(body, headers), 'another secret is refused');
  // The specification's example: secret, id, timestamp and payload give this signature.
  t.equal(signWebhook('whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw', 'msg_p5jXN8AQM9LWM0D4loKWxJek', 1614265330, '{"test": 2432232314}'),
    'v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=', 'the test vector of the Standard Webhooks specification');
});

void t.test('failures: status, redirect, refusal, timeout, huge answers', async (t) => {
  const sender = new HttpWebhookSender({ policy, timeoutMs: 300, maxResponseBytes: 1024 });
  const send = (url: string) => sender.send({ url, secret, id: 'e1', body: '{}' });
  t.match(await send((await server(t, (_q, res) => res.writeHead(503).end())).url), { ok: false, status: 503, error: 'answered 503' });
  const target = await server(t, (_q, res) => res.writeHead(204).end());
  const redirect = await server(t, (_q, res) => res.writeHead(302, { location: target.url }).end());
  t.match(await send(redirect.url), { ok: false, status: 302, error: 'redirect not followed (302)' });
  t.equal(target.hits, 0, 'the redirect target was never called');
  t.match(await send('http://127.0.0.1:1/x'), { ok: false, status: null, error: 'connection refused' }, 'nothing listens on port 1');
  t.match(await send((await server(t, () => {})).url), { ok: false, status: null, error: 'timed out after 300 ms' });
  const huge = await server(t, (_q, res) => {
    res.writeHead(200);
    const chunk = Buffer.alloc(64 * 1024, 120);
    const write = () => { while (res.write(chunk)); };
    res.on('drain', write);
    write();
  });
  const started = Date.now();
  const r = await send(huge.url);
  t.match(r, { ok: true, status: 200 }, 'a 2xx with an endless answer counts, read no further than the limit');
  t.ok(Date.now() - started < 300, 'and promptly');
  const strict = new HttpWebhookSender({ policy: { allowHttp: false, allowPrivate: false } });
  t.match(await strict.send({ url: target.url, secret, id: 'e2', body: '{}' }), { ok: false, error: 'address blocked (link-local or metadata)' },
    'a loopback address is refused at connect time when http to loopback is not allowed');
  t.match(await strict.send({ url: `http://localhost:${new URL(target.url).port}/`, secret, id: 'e3', body: '{}' }),
    { ok: false, error: 'address blocked (link-local or metadata)' }, 'also when a name resolves to it');
  t.equal(target.hits, 0);
});

void t.test('the URL policy', async (t) => {
  const good = ['https://hooks.example.com/x', 'https://10.0.0.5/internal', 'https://[2001:db8::1]/x'];
  for (const url of good) t.ok(checkWebhookUrl(url, { allowHttp: false, allowPrivate: false }).ok, url);
  t.ok(checkWebhookUrl('http://127.0.0.1:3000/x', policy).ok, 'http to loopback with allowHttp');
  t.ok(checkWebhookUrl('http://localhost/x', policy).ok);
  const bad = [
    'http://127.0.0.1/x', 'http://hooks.example.com/x', 'ftp://example.com/x', 'not a url', '/relative',
    'https://user:pw@example.com/', 'https://169.254.169.254/latest/meta-data', 'https://[fe80::1]/', 'https://0.0.0.0/',
    'https://100.100.100.200/', 'https://[::ffff:169.254.169.254]/', `https://example.com/${'x'.repeat(2100)}`,
  ];
  for (const url of bad) t.notOk(checkWebhookUrl(url, { allowHttp: url === 'http://hooks.example.com/x', allowPrivate: false }).ok, url);
  t.ok(checkWebhookUrl('https://169.254.169.254/', { allowHttp: false, allowPrivate: true }).ok, 'allowed by configuration');
  t.ok(isBlockedAddress('::ffff:169.254.169.254', { allowHttp: true, allowPrivate: false }), 'IPv4-mapped IPv6');
  t.notOk(isBlockedAddress('192.168.1.10', { allowHttp: false, allowPrivate: false }), 'private networks are allowed (internal services)');
});
