/**
 * Recovery across real service processes on one database, with a real SMTP server in the
 * test process: each message is delivered once whichever instance answered; when the
 * instance holding the messages reactor is killed (-9), another takes over within the
 * lease and nothing asked for is lost. Without SMTP_URL an instance says at start-up that
 * no mail is delivered.
 */
import t from 'tap';
import { randomBytes, randomUUID } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import { call, startCluster, startInstance } from '../helpers/instances.js';
import { createTestDatabaseUrl } from '../helpers/db.js';
import { linkIn, startMailbox } from '../helpers/mailbox.js';

const RESET_URL = 'https://app.example.test/reset-password';
const PASSWORD = 'correct horse battery staple';

void t.test('two processes: one delivery each; a killed holder is replaced within the lease', async (t) => {
  const mailbox = await startMailbox(t);
  const cluster = await startCluster(t, 2, {
    SMTP_URL: mailbox.url, PASSWORD_RESET_URL: RESET_URL, REACTOR_LEASE_MS: '1500',
    BOOTSTRAP_ADMIN_EMAIL: 'root@example.com', BOOTSTRAP_ADMIN_PASSWORD: PASSWORD,
    RECOVERY_RATE_PER_IP_PER_MINUTE: '10000', REGISTER_RATE_PER_IP_PER_MINUTE: '10000',
  });
  if (!cluster) {
    t.comment('no PostgreSQL server: several processes need one');
    return;
  }
  const [a, b] = cluster.instances;
  if (!a || !b) throw new Error('two instances');
  const addresses = Array.from({ length: 6 }, (_, i) => `sys-${i}-${randomUUID().slice(0, 6)}@example.com`);
  for (const [i, address] of addresses.entries()) {
    t.equal((await call(i % 2 ? a : b, 'POST', '/v1/auth/register', { email: address, password: PASSWORD })).status, 201);
  }
  await Promise.all(addresses.map((address, i) => call(i % 2 ? b : a, 'POST', '/v1/auth/password/forgot', { email: address })));
  const resets = (address: string) => mailbox.messages.filter((m) => m.to.includes(address) && m.text.includes(RESET_URL));
  for (const address of addresses) await mailbox.waitFor((m) => m.to.includes(address) && m.text.includes(RESET_URL), 20_000);
  await sleep(500);
  for (const address of addresses) t.equal(resets(address).length, 1, `${address}: one reset mail`);

  // Kill the instance that holds the messages reactor; ask on the other.
  t.equal((await call(a, 'GET', '/v1/admin/projections')).status, 401, 'the reactor status is an admin view');
  const login = await call(a, 'POST', '/v1/auth/login', { email: 'root@example.com', password: PASSWORD });
  const auth = { authorization: `Bearer ${login.body.access_token}` };
  const holds = async (i: typeof a) => ((await call(i, 'GET', '/v1/admin/projections', undefined, auth)).body.reactors as
    { name: string; active: boolean }[]).some((r) => r.name === 'messages' && r.active);
  const [holder, survivor] = (await holds(a)) ? [a, b] : [b, a];
  t.ok(await holds(holder), 'one instance holds the messages reactor');
  t.notOk(await holds(survivor), 'the other stands by');
  await holder.kill('SIGKILL');
  const late = `late-${randomUUID().slice(0, 6)}@example.com`;
  t.equal((await call(survivor, 'POST', '/v1/auth/register', { email: late, password: PASSWORD })).status, 201);
  t.equal((await call(survivor, 'POST', '/v1/auth/password/forgot', { email: late })).status, 202);
  const mail = await mailbox.waitFor((m) => m.to.includes(late) && m.text.includes(RESET_URL), 20_000);
  t.ok(linkIn(mail.text, RESET_URL), 'delivered by the survivor');
  // The earlier mails are not sent again by the survivor.
  await sleep(300);
  for (const address of addresses) t.equal(resets(address).length, 1);
});

void t.test('without SMTP_URL the service says at start-up that no mail is delivered', async (t) => {
  const databaseUrl = await createTestDatabaseUrl(t);
  if (!databaseUrl) {
    t.comment('no PostgreSQL server: the service processes need one');
    return;
  }
  const env = { DATABASE_URL: databaseUrl, DATABASE_POOL_SIZE: '3', MASTER_KEY: randomBytes(32).toString('base64') };
  const dev = await startInstance(t, 'dev', { ...env, LOG_LEVEL: 'info' });
  const prod = await startInstance(t, 'prod', { ...env, NODE_ENV: 'production', LOG_LEVEL: 'warn' });
  const devLog = dev.output.join('');
  t.match(devLog, /SMTP_URL is not set: no mail is delivered; reset and verification mails \(with their links\) are written to this log/);
  t.match(prod.output.join(''), /SMTP_URL is not set: no mail is delivered \(password reset and email verification messages are dropped\)/);
  const address = `dev-${randomUUID().slice(0, 6)}@example.com`;
  t.equal((await call(dev, 'POST', '/v1/auth/register', { email: address, password: PASSWORD })).status, 201);
  const deadline = Date.now() + 10_000;
  while (!dev.output.join('').includes('/verify-email?token=') && Date.now() < deadline) await sleep(50);
  t.match(dev.output.join(''), /verify-email\?token=/, 'a developer finds the link in the log');
});
