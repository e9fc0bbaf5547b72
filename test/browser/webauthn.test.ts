/**
 * Passkeys in a real browser: headless Debian Chromium, driven by playwright-core, with a
 * CDP virtual authenticator (CTAP2, resident keys, user verification). The test serves a
 * small page (test/browser/page) and reverse-proxies the API to a real service process, so
 * the page and the API share one origin, `http://localhost:<port>`, the service's
 * PUBLIC_URL (and so its WebAuthn relying party `localhost`). Through the page's buttons:
 * an account registers a passkey, signs in with it alone, and then with a password and the
 * passkey as the second step.
 */
import t from 'tap';
import { readFileSync } from 'node:fs';
import http from 'node:http';
import { fileURLToPath } from 'node:url';
import type { Browser } from 'playwright-core';
import { launchChromium } from '../helpers/browser.js';
import { freePort, startCluster } from '../helpers/instances.js';
import { decodeJwt } from '../helpers/http.js';

const page = readFileSync(fileURLToPath(new URL('./page/index.html', import.meta.url)), 'utf8');
// The library's browser build (its package exports do not name the file).
const bundle = readFileSync(fileURLToPath(new URL('../../node_modules/@simplewebauthn/browser/dist/bundle/index.umd.min.js', import.meta.url)), 'utf8');

/** Serves the page and the browser library; everything else goes to the service as it came. */
function pageServer(port: number, service: URL): Promise<http.Server> {
  const server = http.createServer((req, res) => {
    if (req.method === 'GET' && (req.url === '/' || req.url === '/index.html')) {
      res.writeHead(200, { 'content-type': 'text/html; charset=utf-8' }).end(page);
      return;
    }
    if (req.method === 'GET' && req.url === '/simplewebauthn-browser.js') {
      res.writeHead(200, { 'content-type': 'text/javascript' }).end(bundle);
      return;
    }
    const upstream = http.request({
      host: service.hostname, port: service.port, method: req.method, path: req.url,
      headers: { ...req.headers, host: `localhost:${port}` },
    }, (answer) => {
      res.writeHead(answer.statusCode ?? 502, answer.headers);
      answer.pipe(res);
    });
    upstream.on('error', () => res.writeHead(502).end());
    req.pipe(upstream);
  });
  return new Promise((resolve) => server.listen(port, '127.0.0.1', () => resolve(server)));
}

t.test('a passkey registered and used in headless Chromium with a virtual authenticator', async (t) => {
  const port = await freePort();
  const origin = `http://localhost:${port}`;
  const cluster = await startCluster(t, 1, { PUBLIC_URL: origin, LOGIN_RATE_PER_IP_PER_MINUTE: '1000' });
  if (!cluster) throw new Error('no PostgreSQL server answers: the browser test needs one');
  const server = await pageServer(port, new URL(cluster.instances[0]?.url as string));
  t.teardown(() => new Promise<void>((resolve) => server.close(() => resolve())));

  const browser: Browser = await launchChromium();
  t.teardown(() => browser.close());
  const context = await browser.newContext();
  const tab = await context.newPage();
  const cdp = await context.newCDPSession(tab);
  await cdp.send('WebAuthn.enable');
  const { authenticatorId } = await cdp.send('WebAuthn.addVirtualAuthenticator', {
    options: {
      protocol: 'ctap2', transport: 'internal', hasResidentKey: true, hasUserVerification: true, isUserVerified: true,
      automaticPresenceSimulation: true,
    },
  });
  await tab.goto(`${origin}/`);

  const email = `passkey-${Date.now()}@example.com`;
  const password = 'correct horse battery staple';
  await tab.fill('#email', email);
  await tab.fill('#password', password);
  const result = async (): Promise<Record<string, any>> => { // eslint-disable-line @typescript-eslint/no-explicit-any
    // Page code as strings: this file is compiled without the DOM's types.
    await tab.waitForFunction("document.getElementById('result').textContent !== ''");
    const text = await tab.textContent('#result');
    await tab.evaluate("document.getElementById('result').textContent = ''");
    return JSON.parse(text ?? '{}') as Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any
  };

  await tab.click('#register');
  const registered = await result();
  t.equal(registered.registered, 201, 'the account', { result: registered.factor ?? registered });
  t.equal(registered.added, 201, 'the passkey was accepted');
  t.match(registered.factor, { type: 'webauthn', label: 'Chromium virtual authenticator', transports: ['internal'] });
  t.equal(registered.codes?.length, 10, 'recovery codes come with the first factor');
  const userId = registered.userId as string;

  const { credentials } = await cdp.send('WebAuthn.getCredentials', { authenticatorId });
  t.equal(credentials.length, 1, 'the authenticator holds one credential');
  t.equal(credentials[0]?.isResidentCredential, true, 'a discoverable one (a passkey)');
  t.equal(Buffer.from(credentials[0]?.userHandle ?? '', 'base64').toString('hex'), userId.replace(/-/g, ''), 'its user handle is the user id');
  t.equal(credentials[0]?.rpId, 'localhost');

  await tab.click('#passkey');
  const alone = await result();
  t.equal(alone.status, 200, 'a passkey alone signs in', { result: alone.status === 200 ? undefined : alone });
  const claims = decodeJwt(alone.body.access_token as string).payload;
  t.equal(claims.sub, userId);
  t.same(claims.amr, ['hwk'], 'amr: a hardware-bound key');

  await tab.click('#login');
  const stepped = await result();
  t.equal(stepped.first, 403, 'the password alone is not enough any more');
  t.same(stepped.methods, ['webauthn', 'recovery_code']);
  t.equal(stepped.status, 200, 'the passkey as the second step', { result: stepped.status === 200 ? undefined : stepped });
  t.same(decodeJwt(stepped.body.access_token as string).payload.amr, ['pwd', 'hwk']);

  const after = await cdp.send('WebAuthn.getCredentials', { authenticatorId });
  t.equal(after.credentials[0]?.signCount, 3, 'the authenticator signed three times: registration, then two sign-ins');
  const factors = await fetch(`${origin}/v1/me/mfa`, { headers: { authorization: `Bearer ${alone.body.access_token as string}` } });
  const list = await factors.json() as { factors: { type: string; last_used_at: string | null }[] };
  t.equal(list.factors.length, 1);
  t.match(list.factors[0], { type: 'webauthn', last_used_at: /^\d{4}-/ });
});
