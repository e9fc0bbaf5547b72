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
  /** The event types the reactors act on: appending one should nudge the runner. */
  wakesOn: ReadonlySet<string>;
  notices: string[];
  close(): Promise<void>;
}

export async function startReactors(
  config: Config,
  parts: { deps: CommandDeps; sql: Sql; store: EventStore; codec: EventDecoder; log: ReactorLog; transports?: Transports },
): Promise<StartedReactors> {
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
  return {
    runner,
    wakesOn: new Set(reactors.flatMap((r) => r.types ?? [])),
    notices,
    async close() {
      await runner.stop();
      await transports.mail.close();
      await transports.sms.close();
    },
  };
}
