/**
 * The operator console in headless Chromium against a real service process (its own
 * /console, strict CSP): sign in, find a user, disable and enable them, watch the live
 * tail receive a registration made by the test (with pause and resume), rebuild a
 * projection, change a setting and rotate the signing key; axe-core checks every page
 * (no serious or critical violation), the phone width does not scroll sideways, the
 * page asks for nothing outside its origin and breaks no CSP rule. Screenshots of the
 * main pages go to docs/console with `npm run docs:screenshots`.
 */
import t from 'tap';
import { execFileSync } from 'node:child_process';
import { statSync } from 'node:fs';
import { join } from 'node:path';
import { axeViolations, launchChromium, screenshotDir, serious } from '../helpers/browser.js';
import { call, startCluster } from '../helpers/instances.js';
import { awayFromStepEdge, codeOf } from '../helpers/mfa.js';

const ADMIN = { email: 'console-admin@example.com', password: 'console admin password 1' };
const PASSWORD = 'a user password 123';

// The console is served from dist/console: build it (and the service) when sources changed.
execFileSync(process.execPath, ['scripts/build-if-stale.mjs'], { stdio: 'inherit' });

t.test('the operator console in headless Chromium', async (t) => {
  const cluster = await startCluster(t, 1, {
    BOOTSTRAP_ADMIN_EMAIL: ADMIN.email, BOOTSTRAP_ADMIN_PASSWORD: ADMIN.password, LOGIN_RATE_PER_IP_PER_MINUTE: '100000',
  });
  if (!cluster) throw new Error('no PostgreSQL server answers: the console test needs one');
  const service = cluster.instances[0] as { url: string };
  const origin = new URL(service.url).origin;
  const register = async (email: string, first = 'Ada', last = 'Lovelace'): Promise<string> => {
    const r = await call(service, 'POST', '/v1/auth/register', { email, password: PASSWORD, first_name: first, last_name: last });
    t.equal(r.status, 201, `registered ${email}`);
    return r.body.user.id as string;
  };
  const admin = await call(service, 'POST', '/v1/auth/login', { email: ADMIN.email, password: ADMIN.password });
  const bearer = { authorization: `Bearer ${admin.body.access_token}` };
  const stamp = Date.now().toString(36);
  const targetEmail = `grace-${stamp}@example.com`;
  const targetId = await register(targetEmail, 'Grace', 'Hopper');

  // A second admin with a TOTP app: the console asks for the code after the password.
  const mfaEmail = `totp-admin-${stamp}@example.com`;
  const mfaAdminId = await register(mfaEmail, 'Totp', 'Admin');
  t.equal((await call(service, 'POST', `/v1/admin/users/${mfaAdminId}/roles`, { role: 'admin' }, bearer)).status, 204);
  const mfaLogin = await call(service, 'POST', '/v1/auth/login', { email: mfaEmail, password: PASSWORD });
  const mfaBearer = { authorization: `Bearer ${mfaLogin.body.access_token}` };
  const started = await call(service, 'POST', '/v1/me/mfa/totp', { password: PASSWORD }, mfaBearer);
  const secret = started.body.secret as string;
  const confirmed = await call(service, 'POST', `/v1/me/mfa/totp/${started.body.factor_id}/confirm`, { code: codeOf(secret, new Date(), -1) }, mfaBearer);
  t.equal(confirmed.status, 201, 'the second admin enrolled a TOTP app');

  const browser = await launchChromium();
  t.teardown(() => browser.close());
  const context = await browser.newContext({ viewport: { width: 1280, height: 900 } });
  const tab = await context.newPage();
  const foreign: string[] = [];
  const cspErrors: string[] = [];
  const pageErrors: string[] = [];
  let refreshes = 0;
  tab.on('request', (r) => {
    if (!r.url().startsWith(origin) && !r.url().startsWith('data:')) foreign.push(r.url());
    if (r.url().endsWith('/v1/auth/refresh')) refreshes++;
  });
  tab.on('console', (m) => {
    if (/Content Security Policy|Refused to/i.test(m.text())) cspErrors.push(m.text());
  });
  tab.on('pageerror', (e) => pageErrors.push(e.message));
  const shots = screenshotDir(t.testdir());
  const shot = async (name: string): Promise<void> => {
    const path = join(shots, `${name}.png`);
    await tab.screenshot({ path, fullPage: true });
    t.ok(statSync(path).size > 5000, `screenshot ${name}.png`);
  };
  const accessible = async (name: string): Promise<void> => {
    const found = serious(await axeViolations(tab));
    t.same(found, [], `${name}: no serious or critical axe-core violation`);
  };
  const status = (text: string | RegExp) => tab.getByRole('status').filter({ hasText: text }).first().waitFor();

  // The page and its headers.
  const page = await fetch(`${origin}/console`);
  t.equal(page.status, 200);
  t.match(page.headers.get('content-security-policy'), /default-src 'none'; script-src 'self'; style-src 'self'/);
  t.equal(page.headers.get('x-frame-options'), 'DENY');

  await t.test('sign in', async (t) => {
    await tab.goto(`${origin}/console`);
    await accessible('sign-in');
    await shot('sign-in');
    await tab.getByLabel('Email or phone').fill(ADMIN.email);
    await tab.getByLabel('Password').fill('not the password');
    await tab.getByRole('button', { name: 'Sign in' }).click();
    await tab.getByRole('alert').filter({ hasText: 'invalid_credentials' }).waitFor();
    t.pass('a wrong password is said so');
    await tab.getByLabel('Email or phone').fill(targetEmail);
    await tab.getByLabel('Password').fill(PASSWORD);
    await tab.getByRole('button', { name: 'Sign in' }).click();
    await tab.getByRole('alert').filter({ hasText: 'not an admin' }).waitFor();
    t.pass('an account without the admin role is turned away');
    await tab.getByLabel('Email or phone').fill(ADMIN.email);
    await tab.getByLabel('Password').fill(ADMIN.password);
    await tab.getByRole('button', { name: 'Sign in' }).click();
    await tab.getByRole('navigation', { name: 'Main' }).waitFor();
    t.ok(await tab.getByRole('button', { name: 'Sign out' }).isVisible(), 'signed in');
  });

  await t.test('find a user; disable and enable them', async (t) => {
    await tab.getByLabel('Search users').fill('grace-');
    await tab.getByRole('button', { name: 'Search' }).click();
    await tab.getByRole('link', { name: 'Grace Hopper' }).waitFor();
    // The list shown before the search (every user) holds her too: wait for the answer to replace it.
    const rows = tab.locator('tbody tr');
    for (let waited = 0; waited < 5000 && (await rows.count()) !== 1; waited += 50) await new Promise((r) => setTimeout(r, 50));
    t.equal(await rows.count(), 1, 'the search finds her alone');
    await accessible('users');
    await shot('users');
    await tab.getByRole('link', { name: 'Grace Hopper' }).click();
    await tab.getByRole('heading', { level: 1, name: /Grace Hopper/ }).waitFor();
    await tab.getByRole('heading', { name: 'Event history' }).waitFor();
    await tab.locator('li.event').filter({ hasText: 'UserRegistered' }).first().waitFor();
    await accessible('user');
    await shot('user');

    await tab.getByRole('button', { name: 'Disable' }).click();
    await status('Disabled');
    await tab.getByRole('heading', { level: 1 }).filter({ hasText: 'disabled' }).waitFor();
    const refused = await call(service, 'POST', '/v1/auth/login', { email: targetEmail, password: PASSWORD });
    t.equal(refused.status, 403, 'the disabled user cannot sign in');
    t.equal(refused.body.code, 'account_disabled');

    await tab.getByRole('button', { name: 'Enable' }).click();
    await status('Enabled');
    await tab.getByRole('heading', { level: 1 }).filter({ hasText: 'active' }).waitFor();
    t.equal((await call(service, 'POST', '/v1/auth/login', { email: targetEmail, password: PASSWORD })).status, 200, 'enabled again');

    const stream = await call(service, 'GET', `/v1/admin/streams/user-${targetId}`, undefined, bearer);
    const actions = stream.body.events.filter((e: { type: string }) => e.type === 'UserDisabled' || e.type === 'UserEnabled');
    t.same(actions.map((e: { type: string }) => e.type), ['UserDisabled', 'UserEnabled'], 'each action is an event');
    t.ok(actions.every((e: { metadata: { actor_id: string } }) => e.metadata.actor_id === admin.body.user.id), 'with the admin as actor');
  });

  await t.test('revoke a session, send a reset, erase with a typed confirmation', async (t) => {
    const email = `erin-${stamp}@example.com`;
    const id = await register(email, 'Erin', 'Erased');
    const second = await call(service, 'POST', '/v1/auth/login', { email, password: PASSWORD });
    await tab.goto(`${origin}/console#/users/${id}`);
    await tab.getByRole('heading', { level: 1, name: /Erin Erased/ }).waitFor();
    await tab.getByRole('button', { name: `Revoke session ${String(second.body.session_id).slice(0, 8)}` }).click();
    await status('Session revoked');
    t.equal((await call(service, 'GET', '/v1/me', undefined, { authorization: `Bearer ${second.body.access_token}` })).status, 401,
      'the revoked session\'s token is refused');

    await tab.getByRole('button', { name: 'Send password reset' }).click();
    await status('password reset');
    const stream = await call(service, 'GET', `/v1/admin/streams/user-${id}`, undefined, bearer);
    const requested = stream.body.events.find((e: { type: string }) => e.type === 'PasswordResetRequested');
    t.equal(requested?.metadata.actor_id, admin.body.user.id, 'a reset was requested, the admin as actor');

    await tab.getByRole('button', { name: 'Erase this user…' }).click();
    const erase = tab.getByRole('button', { name: 'Erase', exact: true });
    t.ok(await erase.isDisabled(), 'Erase waits for the confirmation');
    await tab.getByLabel(/to confirm/).fill('erin');
    t.ok(await erase.isDisabled(), 'a wrong confirmation does not do');
    await accessible('erase confirmation');
    await tab.getByLabel(/to confirm/).fill(email);
    await erase.click();
    await tab.getByRole('heading', { level: 1, name: 'Users' }).waitFor();
    const erased = await call(service, 'GET', `/v1/admin/users/${id}`, undefined, bearer);
    t.equal(erased.body.status, 'erased', 'erased');
    t.equal(erased.body.email, null, 'no personal data left');
  });

  await t.test('the live tail receives a registration, pauses and resumes from the last id', async (t) => {
    await tab.getByRole('link', { name: 'Live tail' }).click();
    await tab.locator('#tail-state').filter({ hasText: 'live' }).waitFor();
    const email = `tail-${stamp}@example.com`;
    const id = await register(email);
    const row = (streamId: string, type: string) => tab.locator('li.event').filter({ hasText: type }).filter({ hasText: streamId });
    await row(`user-${id}`, 'UserRegistered').waitFor();
    await tab.locator('li.event').filter({ hasText: 'SessionStarted' }).first().waitFor();
    t.pass('the registration\'s events arrived');
    await row(`user-${id}`, 'UserRegistered').locator('summary').click();
    const shown = await row(`user-${id}`, 'UserRegistered').locator('pre').first().textContent();
    t.match(shown ?? '', email, 'its data, decoded');
    t.notMatch(shown ?? '', /password|\$argon2/i, 'no password hash in the event data');
    await accessible('tail');
    await shot('tail');

    await tab.getByRole('button', { name: 'Pause' }).click();
    await tab.locator('#tail-state').filter({ hasText: 'paused' }).waitFor();
    const later = await register(`tail-paused-${stamp}@example.com`);
    await tab.waitForTimeout(500);
    t.equal(await row(`user-${later}`, 'UserRegistered').count(), 0, 'nothing arrives while paused');
    await tab.getByRole('button', { name: 'Resume' }).click();
    await row(`user-${later}`, 'UserRegistered').waitFor();
    t.equal(await row(`user-${id}`, 'UserRegistered').count(), 1, 'resumed after the last id: nothing repeated');
  });

  await t.test('the event feed and a stream view', async (t) => {
    await tab.goto(`${origin}/console#/events?types=UserRegistered`);
    await tab.locator('li.event').filter({ hasText: `user-${targetId}` }).waitFor();
    t.equal(await tab.locator('li.event').filter({ hasNotText: 'UserRegistered' }).count(), 0, 'filtered by type');
    await accessible('events');
    await shot('events');
    const event = tab.locator('li.event').filter({ hasText: `user-${targetId}` });
    await event.locator('summary').click();
    await event.getByRole('link', { name: `Open stream user-${targetId}` }).click();
    await tab.getByRole('heading', { level: 1, name: `Stream user-${targetId}` }).waitFor();
    const api = await call(service, 'GET', `/v1/admin/streams/user-${targetId}`, undefined, bearer);
    const first = tab.locator('li.event').first();
    t.same(JSON.parse((await first.locator('pre').nth(0).textContent()) ?? ''), api.body.events[0].data, 'data as the admin API shows it');
    t.same(JSON.parse((await first.locator('pre').nth(1).textContent()) ?? ''), api.body.events[0].metadata, 'metadata as the admin API shows it');
    await accessible('stream');
  });

  await t.test('projections: rebuild one and watch it finish', async (t) => {
    await tab.getByRole('link', { name: 'Projections' }).click();
    const users = tab.locator('tr[data-projection="users"]');
    await users.waitFor();
    await accessible('projections');
    await shot('projections');
    const button = users.getByRole('button', { name: 'Rebuild users' });
    await button.click();
    await status('Rebuild of users started');
    const usersStatus = async () => (await call(service, 'GET', '/v1/admin/projections', undefined, bearer))
      .body.projections.find((x: { name: string }) => x.name === 'users');
    // The console shows the progress instead of the button while the rebuild runs, unless
    // it was over before the console's next read: wait for either, then for the button.
    await Promise.race([
      button.waitFor({ state: 'hidden', timeout: 30_000 }).catch(() => {}), // the loser of the race may time out
      (async () => {
        while ((await usersStatus()).rebuilding) await new Promise((r) => setTimeout(r, 100));
      })(),
    ]);
    await button.waitFor({ timeout: 30_000 });
    const p = await usersStatus();
    t.equal(p.rebuilding, false, 'the rebuild finished');
    t.equal(p.lag_events, 0, 'and caught up');
    t.equal((await call(service, 'GET', `/v1/admin/users/${targetId}`, undefined, bearer)).body.email, targetEmail, 'the rebuilt read model has the user');
  });

  await t.test('settings: a change is an event shown back; the signing key rotates', async (t) => {
    await tab.getByRole('link', { name: 'Settings' }).click();
    const ttl = tab.getByLabel('Access token lifetime (seconds)');
    await ttl.waitFor();
    await ttl.fill('10');
    await tab.getByRole('button', { name: 'Save settings' }).click();
    await status('Saved');
    t.equal((await call(service, 'GET', '/v1/admin/settings', undefined, bearer)).body.access_token_ttl_seconds, 10, 'the setting changed');
    await tab.locator('li.event').filter({ hasText: 'SettingsChanged' }).first().waitFor();
    t.pass('the SettingsChanged event is shown back');

    const kids = async (): Promise<string[]> => (await call(service, 'GET', '/.well-known/jwks.json')).body.keys.map((k: { kid: string }) => k.kid);
    const before = await kids();
    await tab.getByRole('button', { name: 'Rotate signing key' }).click();
    await status('Rotated');
    const after = await kids();
    t.not(after.join(), before.join(), 'the JWKS changed');
    await accessible('settings');
    await shot('settings');
  });

  await t.test('tokens: refreshed in memory before they expire; sign-out forgets them', async (t) => {
    // Sign in again so the access token has the new 10-second lifetime.
    await tab.getByRole('button', { name: 'Sign out' }).click();
    await tab.getByLabel('Email or phone').fill(ADMIN.email);
    await tab.getByLabel('Password').fill(ADMIN.password);
    await tab.getByRole('button', { name: 'Sign in' }).click();
    await tab.getByRole('navigation', { name: 'Main' }).waitFor();
    const before = refreshes;
    await tab.waitForTimeout(12_000);
    t.ok(refreshes > before, 'the console refreshed its token before it expired');
    await tab.getByRole('link', { name: 'Users' }).click();
    await tab.getByRole('link', { name: 'Grace Hopper' }).waitFor();
    t.pass('and still works past the first token\'s expiry');
    t.equal(await tab.evaluate('localStorage.length + sessionStorage.length'), 0, 'nothing in web storage');
    t.same(await context.cookies(), [], 'no cookie');
    await tab.reload();
    await tab.getByLabel('Email or phone').waitFor();
    t.pass('a reload asks to sign in again: no token was stored');
    await call(service, 'PATCH', '/v1/admin/settings', { access_token_ttl_seconds: 300 }, bearer);
  });

  await t.test('an admin with a second factor signs in with a code', async (t) => {
    await tab.getByLabel('Email or phone').fill(mfaEmail);
    await tab.getByLabel('Password').fill(PASSWORD);
    await tab.getByRole('button', { name: 'Sign in' }).click();
    const code = tab.getByLabel('Code from the authenticator app');
    await code.waitFor();
    await accessible('second factor');
    await code.fill('000000' === codeOf(secret) ? '111111' : '000000');
    await tab.getByRole('button', { name: 'Verify' }).click();
    await tab.getByRole('alert').filter({ hasText: 'invalid_code' }).waitFor();
    t.pass('a wrong code is said so, and the ticket holds');
    await awayFromStepEdge();
    await code.fill(codeOf(secret));
    await tab.getByRole('button', { name: 'Verify' }).click();
    await tab.getByRole('navigation', { name: 'Main' }).waitFor();
    t.match(await tab.locator('.who').textContent(), mfaEmail, 'signed in as the TOTP admin');
  });

  await t.test('a phone-sized screen and the keyboard', async (t) => {
    await tab.setViewportSize({ width: 390, height: 844 });
    for (const path of ['users', `users/${targetId}`, 'events', 'projections', 'settings']) {
      await tab.goto(`${origin}/console#/${path}`);
      await tab.getByRole('heading', { level: 1 }).waitFor();
      await tab.waitForTimeout(300);
      const overflow = await tab.evaluate('document.documentElement.scrollWidth - window.innerWidth') as number;
      t.ok(overflow <= 1, `#/${path}: no sideways scrolling at 390 px (${overflow})`);
    }
    await shot('user-phone');
    await tab.setViewportSize({ width: 1280, height: 900 });
    await tab.goto(`${origin}/console#/users`);
    await tab.getByRole('heading', { level: 1, name: 'Users' }).waitFor();
    const focused = (what: string): Promise<unknown> => tab.evaluate(`document.activeElement.${what}`);
    await tab.waitForFunction("document.activeElement && document.activeElement.tagName === 'H1'", undefined, { timeout: 5000 }).catch(() => undefined);
    t.equal(await focused('tagName'), 'H1', 'a page change moves the focus to its heading');
    await tab.keyboard.press('Tab');
    t.equal(await focused('id'), 'user-query', 'the next Tab reaches the search');
    await tab.getByRole('link', { name: 'Users' }).focus();
    await tab.keyboard.press('Shift+Tab');
    t.equal(await focused('textContent'), 'Skip to content', 'the skip link comes before the navigation');
    await tab.keyboard.press('Enter');
    t.equal(await focused('id'), 'main', 'which moves the focus past the navigation');
    t.match(tab.url(), /#\/users$/, 'and keeps the page');
  });

  t.same(foreign, [], 'no request left the service\'s origin');
  t.same(cspErrors, [], 'no Content-Security-Policy violation');
  t.same(pageErrors, [], 'no uncaught error in the page');
});
