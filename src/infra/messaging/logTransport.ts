/**
 * Transports that deliver nothing. "log" writes each message (links and codes included) to
 * the given log function, for development only; "none" drops it, for production without
 * SMTP or SMS (the caller says so once at start-up).
 */
import type { MailTransport, OutgoingMail, OutgoingSms, SmsTransport } from '../../ports/messages.js';

type Log = (obj: object, msg: string) => void;

export class LogMailTransport implements MailTransport {
  readonly name = 'log';
  readonly #log: Log;
  constructor(log: Log) {
    this.#log = log;
  }
  async send(mail: OutgoingMail): Promise<void> {
    this.#log({ id: mail.id, to: mail.to, subject: mail.subject, text: mail.text }, 'mail logged, not sent (log transport)');
  }
  async close(): Promise<void> {}
}

export class LogSmsTransport implements SmsTransport {
  readonly name = 'log';
  readonly #log: Log;
  constructor(log: Log) {
    this.#log = log;
  }
  async send(sms: OutgoingSms): Promise<void> {
    this.#log({ id: sms.id, to: sms.to, text: sms.body }, 'sms logged, not sent (log transport)');
  }
  async close(): Promise<void> {}
}

export class NoMailTransport implements MailTransport {
  readonly name = 'none';
  async send(): Promise<void> {}
  async close(): Promise<void> {}
}

export class NoSmsTransport implements SmsTransport {
  readonly name = 'none';
  async send(): Promise<void> {}
  async close(): Promise<void> {}
}
