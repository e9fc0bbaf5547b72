/**
 * Wiring of the reactors: the transports the configuration asks for (SMTP and the SMS
 * webhook; in development without them, the log; in production, nothing, said once at
 * start-up), the recovery and messages reactors, and the engine that runs them from the
 * event log (reactors/engine/).
 */
import type { Config } from '../config.js';
import type { CommandDeps } from '../commands/handle.js';
import { LogMailTransport, LogSmsTransport, NoMailTransport, NoSmsTransport } from '../infra/messaging/logTransport.js';
import { WebhookSmsTransport } from '../infra/messaging/smsWebhook.js';
import { SmtpMailTransport } from '../infra/messaging/smtp.js';
import type { EventStore } from '../ports/eventStore.js';
import type { EventDecoder } from '../ports/events.js';
import type { MailTransport, SmsTransport } from '../ports/messages.js';
import type { Sql } from '../ports/sql.js';
import { ReactorRunner, type ReactorLog } from '../reactors/engine/reactorRunner.js';
import { messagesReactor } from '../reactors/messages/reactor.js';
import { recoveryReactor } from '../reactors/recovery.js';
import { WebhookManager } from '../reactors/webhooks/manager.js';
import { HttpWebhookSender } from '../infra/webhooks/httpSender.js';
import { decodedView } from '../infra/redact.js';
import { listWebhooks } from '../projections/webhooks/queries.js';
import { ConfigError } from '../config.js';

export interface Transports {
  mail: MailTransport;
  sms: SmsTransport;
}

/** The transports for this configuration, and what the operator must be told at start-up. */
export function openTransports(config: Config, log: ReactorLog): Transports & { notices: string[] } {
  const r = config.recovery;
  const notices: string[] = [];
  const toLog = (obj: object, msg: string): void => log.info?.(obj as Record<string, unknown>, msg);
  let mail: MailTransport;
  if (r.smtpUrl) {
    try {
      mail = new SmtpMailTransport({ url: r.smtpUrl, from: r.mailFrom });
    } catch (e) {
      throw new ConfigError('SMTP_URL', e instanceof Error ? e.message : String(e));
    }
  } else if (r.logMessages) {
    mail = new LogMailTransport(toLog);
    notices.push('SMTP_URL is not set: no mail is delivered; reset and verification mails (with their links) are written to this log instead, as NODE_ENV is not "production"');
  } else {
    mail = new NoMailTransport();
    notices.push('SMTP_URL is not set: no mail is delivered (password reset and email verification messages are dropped)');
  }
  let sms: SmsTransport;
  if (r.smsWebhookUrl) sms = new WebhookSmsTransport({ url: r.smsWebhookUrl, token: r.smsWebhookToken });
  else if (r.logMessages) {
    sms = new LogSmsTransport(toLog);
    notices.push('SMS_WEBHOOK_URL is not set: no SMS is delivered; codes are written to this log instead, as NODE_ENV is not "production"');
  } else {
    sms = new NoSmsTransport();
    notices.push('SMS_WEBHOOK_URL is not set: no SMS is delivered (phone codes are dropped)');
  }
  return { mail, sms, notices };
}

export interface StartedReactors {
  runner: ReactorRunner;
  /** One reactor per enabled webhook endpoint, in an engine of their own. */
  webhooks: WebhookManager;
  /** The event types the reactors act on: appending one should nudge the runner. */
  wakesOn: ReadonlySet<string>;
  notices: string[];
  close(): Promise<void>;
}

export async function startReactors(
  config: Config,
  parts: { deps: CommandDeps; sql: Sql; store: EventStore; codec: EventDecoder; log: ReactorLog; transports?: Transports; run?: boolean },
): Promise<StartedReactors> {
  const webhookRunner = new ReactorRunner({
    sql: parts.sql, store: parts.store, codec: parts.codec, log: parts.log, leaseMs: config.recovery.reactorLeaseMs,
    retryFirstDelayMs: 1000, retryMaxDelayMs: config.webhooks.retryMaxSeconds * 1000,
  });
  const webhooks = new WebhookManager({
    sql: parts.sql, store: parts.store, deps: parts.deps, runner: webhookRunner, log: parts.log,
    endpoints: () => listWebhooks(parts.sql), view: decodedView,
    sender: new HttpWebhookSender({ policy: { allowHttp: config.webhooks.allowHttp, allowPrivate: config.webhooks.allowPrivate } }),
    disableAfterMs: config.webhooks.disableAfterSeconds * 1000,
    retryFirstDelayMs: 1000, retryMaxDelayMs: config.webhooks.retryMaxSeconds * 1000,
  });
  if (parts.run === false) {
    const idle = new ReactorRunner({ sql: parts.sql, store: parts.store, codec: parts.codec, log: parts.log });
    await idle.start(); // migrates its table, runs nothing
    await webhooks.prepare();
    return { runner: idle, webhooks, wakesOn: new Set(), notices: [], close: () => idle.stop() };
  }
  const { notices, ...transports } = parts.transports ? { ...parts.transports, notices: [] } : openTransports(config, parts.log);
  const reactors = [
    recoveryReactor(parts.deps),
    messagesReactor(parts.deps, {
      ...transports, productName: config.recovery.productName,
      passwordResetUrl: config.recovery.passwordResetUrl, emailVerifyUrl: config.recovery.emailVerifyUrl,
    }),
  ];
  const runner = new ReactorRunner({
    sql: parts.sql, store: parts.store, codec: parts.codec, log: parts.log, reactors, leaseMs: config.recovery.reactorLeaseMs,
  });
  await runner.start();
  await webhooks.start();
  return {
    runner,
    webhooks,
    wakesOn: new Set(reactors.flatMap((r) => r.types ?? [])),
    notices,
    async close() {
      await webhooks.stop();
      await runner.stop();
      await transports.mail.close();
      await transports.sms.close();
    },
  };
}
