/**
 * A service with a real SMTP server and SMS sink in the test process, and the steps of the
 * recovery flows as a user takes them: read the link or code out of the delivered message.
 */
import type { Test } from 'tap';
import { fastHasher } from './admin.js';
import { buildTestApp, type TestApp } from './app.js';
import { codeIn, linkIn, startMailbox, startSmsSink, type Mailbox, type MailboxMessage, type SmsSink } from './mailbox.js';
import type { TestDatabase } from './db.js';
import { messagesStream } from '../../src/domain/events.js';
import type { Decoded } from '../../src/ports/events.js';

export const RESET_URL = 'https://app.example.test/reset-password';
export const VERIFY_URL = 'https://app.example.test/verify-email';

export interface RecoveryApp extends TestApp {
  mailbox: Mailbox;
  sms: SmsSink;
}

export async function buildRecoveryApp(
  t: Test, env: Record<string, string> = {}, shared?: { db: TestDatabase; mailbox: Mailbox; sms: SmsSink },
): Promise<RecoveryApp> {
  const mailbox = shared?.mailbox ?? (await startMailbox(t));
  const sms = shared?.sms ?? (await startSmsSink(t));
  const built = await buildTestApp(t, {
    SMTP_URL: mailbox.url, MAIL_FROM: 'Authstream <no-reply@example.test>', SMS_WEBHOOK_URL: sms.url, SMS_WEBHOOK_TOKEN: 'sms-secret',
    PASSWORD_RESET_URL: RESET_URL, EMAIL_VERIFY_URL: VERIFY_URL, PRODUCT_NAME: 'Acme',
    RECOVERY_RATE_PER_IP_PER_MINUTE: '100000', REGISTER_RATE_PER_IP_PER_MINUTE: '100000', ...env,
  }, { hasher: fastHasher, ...(shared ? { db: shared.db } : {}) });
  return { ...built, mailbox, sms };
}

/** The token of the newest link to `base` mailed to `to`. */
export async function mailedToken(mailbox: Mailbox, to: string, base: string, after = 0): Promise<{ token: string; message: MailboxMessage }> {
  const message = await mailbox.waitFor((m) => m.to.includes(to) && m.text.includes(base) && mailbox.messages.indexOf(m) >= after, 15_000);
  const link = linkIn(message.text, base);
  if (!link) throw new Error('no link in the mail');
  const token = new URL(link).searchParams.get('token');
  if (!token) throw new Error('no token in the link');
  return { token, message };
}

/** The code of the newest SMS to `to` (after the first `after` messages). */
export async function textedCode(sms: SmsSink, to: string, after = 0): Promise<string> {
  const m = await sms.waitFor((x) => x.to === to && sms.messages.indexOf(x) >= after, 15_000);
  const code = codeIn(m.body);
  if (!code) throw new Error('no code in the SMS');
  return code;
}

/** Waits until both reactors have acted on everything appended so far. */
export async function reactorsSettled(app: TestApp): Promise<void> {
  const { runtime } = app;
  for (const name of ['recovery', 'messages']) {
    const head = await runtime.store.headPosition();
    if (!(await runtime.reactors.waitFor(name, head, 15_000))) throw new Error(`reactor ${name} did not reach ${head}`);
  }
}

/** What became of the user's messages (MessageSent, MessageFailed, MessageSkipped). */
export async function messageEvents(app: TestApp, userId: string): Promise<Decoded[]> {
  return app.runtime.codec.decodeAll(await app.runtime.store.readStream(messagesStream(userId)));
}
