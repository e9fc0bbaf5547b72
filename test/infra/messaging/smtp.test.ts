/**
 * SmtpMailTransport against a real SMTP server in the test process: what arrives (text, html,
 * de-duplication headers, credentials), and how failures are told apart: 5xx refusals are
 * permanent, 4xx, a stopped server and a silent one are not; no error names the recipient.
 */
import t from 'tap';
import net from 'node:net';
import type { AddressInfo } from 'node:net';
import { parseSmtpUrl, SmtpMailTransport } from '../../../src/infra/messaging/smtp.js';
import { DeliveryError, type OutgoingMail } from '../../../src/ports/messages.js';
import { linkIn, startMailbox } from '../../helpers/mailbox.js';

type Tap = Parameters<Parameters<typeof t.test>[0]>[0];

const link = 'https://app.example.com/reset?token=Zm9v_YmFy-123';
let n = 0;
const mail = (over: Partial<OutgoingMail> = {}): OutgoingMail => ({
  id: `0190c3e0-7a4b-7cde-8f00-00000000000${n++}`,
  to: 'ada.lovelace@example.org',
  subject: 'Reset your Acme password',
  text: `Open this link:\n\n${link}\n\nThanks`,
  html: `<p>Open this link:</p><p><a href="${link}">${link}</a></p>`,
  ...over,
});

function transport(t: Tap, url: string, timeoutMs?: number): SmtpMailTransport {
  const smtp = new SmtpMailTransport({ url, from: 'Acme <no-reply@acme.example>', ...(timeoutMs ? { timeoutMs } : {}) });
  t.teardown(() => smtp.close());
  return smtp;
}

/** The DeliveryError a send fails with, checked to say nothing personal. */
async function failure(t: Tap, send: Promise<void>, m: OutgoingMail): Promise<DeliveryError> {
  const err = await send.then(() => undefined, (e: unknown) => e);
  if (!(err instanceof DeliveryError)) throw new Error(`expected a DeliveryError, got ${String(err)}`);
  for (const secret of [m.to, 'ada.lovelace', m.subject, link, 'Zm9v']) t.notMatch(err.message, secret, 'nothing personal in the message');
  t.equal(err.cause, undefined, 'the vendor error is not kept');
  return err;
}

t.test('parseSmtpUrl', async (t) => {
  t.same(parseSmtpUrl('smtp://mail.example.com'), { host: 'mail.example.com', port: 587, secure: false });
  t.same(parseSmtpUrl('smtps://mail.example.com'), { host: 'mail.example.com', port: 465, secure: true });
  t.same(parseSmtpUrl(' smtp://apikey:p%40ss%3Aw0rd@127.0.0.1:2525/ '),
    { host: '127.0.0.1', port: 2525, secure: false, auth: { user: 'apikey', pass: 'p@ss:w0rd' } });
  t.same(parseSmtpUrl('smtp://[::1]:25'), { host: '::1', port: 25, secure: false });
  const bad: [string, RegExp][] = [
    ['not a url', /not a valid URL/],
    ['mail.example.com:587', /smtp:\/\/ or smtps:\/\//],
    ['smtp://', /no host/],
    ['https://user:hunter2@mail.example.com', /smtp:\/\/ or smtps:\/\//],
    ['smtp://user:hunter2@mail.example.com/relay', /path/],
    ['smtp://user:hunter2@mail.example.com?tls=1', /query/],
    ['smtp://hunter2@mail.example.com', /user name and a password/],
    ['smtp://user:hunter2%zz@mail.example.com', /percent-encoded/],
  ];
  for (const [raw, expected] of bad) {
    const message = (() => {
      try {
        parseSmtpUrl(raw);
        return 'no error';
      } catch (e) {
        return e instanceof Error ? e.message : String(e);
      }
    })();
    t.match(message, expected, raw);
    t.notMatch(message, 'hunter2', 'no password in the error');
  }
  t.throws(() => new SmtpMailTransport({ url: 'smtp://127.0.0.1', from: 'no-reply' }), /MAIL_FROM/);
});

t.test('delivers text and html, with the message id for de-duplication', async (t) => {
  const box = await startMailbox(t);
  const smtp = transport(t, box.url);
  t.equal(smtp.name, 'smtp');
  const m = mail();
  await smtp.send(m);
  const got = await box.waitFor((x) => x.headers['x-authstream-message-id'] === m.id);
  t.same(got.to, [m.to]);
  t.equal(got.subject, m.subject);
  t.equal(linkIn(got.text, 'https://app.example.com/reset'), link, 'the link survives encoding, verbatim');
  t.ok(got.text.split(/\r?\n/).includes(link));
  t.match(got.html, `<a href="${link}">`);
  t.equal(got.headers['message-id'], `<${m.id}@acme.example>`);
  t.match(got.headers.from, 'no-reply@acme.example');
  await smtp.send(mail({ to: 'bob@example.org' }));
  await box.waitFor((x) => x.to[0] === 'bob@example.org');
  t.equal(box.messages.length, 2, 'the pooled connection carries on');
});

t.test('a 5xx refusal is permanent, a 4xx one is not; the next message goes through', async (t) => {
  const box = await startMailbox(t);
  const smtp = transport(t, box.url);
  box.reject(1, 550);
  const m1 = mail();
  const refused = await failure(t, smtp.send(m1), m1);
  t.equal(refused.message, 'smtp 550 rejected');
  t.equal(refused.permanent, true);
  box.reject(1, 451);
  const m2 = mail();
  const deferred = await failure(t, smtp.send(m2), m2);
  t.equal(deferred.message, 'smtp 451 deferred');
  t.equal(deferred.permanent, false);
  const m3 = mail();
  await smtp.send(m3);
  await box.waitFor((x) => x.headers['x-authstream-message-id'] === m3.id);
  t.equal(box.messages.length, 1, 'refused messages were not delivered');
});

t.test('a stopped server is a transient failure, and delivery resumes once it is back', async (t) => {
  const box = await startMailbox(t);
  const smtp = transport(t, box.url);
  await smtp.send(mail());
  await box.stop();
  const m = mail();
  const err = await failure(t, smtp.send(m), m);
  t.equal(err.message, 'smtp connection refused');
  t.equal(err.permanent, false);
  await box.start();
  await smtp.send(m);
  await box.waitFor((x) => x.headers['x-authstream-message-id'] === m.id);
});

t.test('a server that never greets times out, transiently', async (t) => {
  const sockets = new Set<net.Socket>();
  const silent = net.createServer((s) => sockets.add(s.on('error', () => {})));
  await new Promise<void>((resolve) => silent.listen(0, '127.0.0.1', resolve));
  t.teardown(() => new Promise<void>((resolve) => {
    for (const s of sockets) s.destroy();
    silent.close(() => resolve());
  }));
  const smtp = transport(t, `smtp://127.0.0.1:${(silent.address() as AddressInfo).port}`, 200);
  const m = mail();
  const started = Date.now();
  const err = await failure(t, smtp.send(m), m);
  t.equal(err.message, 'smtp timed out');
  t.equal(err.permanent, false);
  t.ok(Date.now() - started < 5000, 'bounded by the configured timeout');
});

t.test('credentials in SMTP_URL are used; wrong ones fail transiently', async (t) => {
  const box = await startMailbox(t, { user: 'relay', pass: 's3cret/+' });
  const good = transport(t, box.url.replace('smtp://', 'smtp://relay:s3cret%2F%2B@'));
  const m = mail();
  await good.send(m);
  await box.waitFor((x) => x.headers['x-authstream-message-id'] === m.id);
  const wrong = transport(t, box.url.replace('smtp://', 'smtp://relay:nope@'));
  const m2 = mail();
  const err = await failure(t, wrong.send(m2), m2);
  t.match(err.message, /^smtp authentication failed/);
  t.notMatch(err.message, 'nope');
  t.equal(err.permanent, false, 'a fixed configuration makes the retry succeed');
});
