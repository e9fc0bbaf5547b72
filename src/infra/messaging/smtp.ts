/**
 * Mail over SMTP (nodemailer, one pooled transport per instance) from SMTP_URL and MAIL_FROM.
 * Failures become DeliveryError in our own words only: the SMTP code and what kind of failure,
 * never the server's text (it may quote the recipient) nor the address, subject or body.
 */
import nodemailer from 'nodemailer';
import type { NodemailerError, SMTPPoolOptions, SMTPPoolSentMessageInfo, Transporter } from 'nodemailer';
import { DeliveryError, type MailTransport, type OutgoingMail } from '../../ports/messages.js';

interface SmtpSettings {
  host: string;
  port: number;
  /** true: TLS from the first byte (smtps://); false: plain, upgraded by STARTTLS when offered. */
  secure: boolean;
  auth?: { user: string; pass: string };
}

/**
 * Reads `smtp://[user:pass@]host[:port]` (port 587 by default) or `smtps://…` (465).
 * Throws a plain Error whose message reads after the setting's name ("must start with …")
 * and never repeats the URL, which may hold a password.
 */
export function parseSmtpUrl(raw: string): SmtpSettings {
  let u: URL;
  try {
    u = new URL(raw.trim());
  } catch {
    throw new Error('is not a valid URL (smtp://user:pass@host:587 or smtps://user:pass@host:465)');
  }
  if (u.protocol !== 'smtp:' && u.protocol !== 'smtps:') throw new Error('must start with smtp:// or smtps://');
  if (!u.hostname) throw new Error('has no host');
  if (u.pathname !== '' && u.pathname !== '/') throw new Error('must not have a path');
  if (u.search || u.hash) throw new Error('must not have a query or a fragment');
  const secure = u.protocol === 'smtps:';
  const settings: SmtpSettings = { host: u.hostname.replace(/^\[(.*)\]$/, '$1'), port: u.port ? Number(u.port) : secure ? 465 : 587, secure };
  if (u.username || u.password) {
    if (!u.username || !u.password) throw new Error('needs both a user name and a password, or neither');
    try {
      settings.auth = { user: decodeURIComponent(u.username), pass: decodeURIComponent(u.password) };
    } catch {
      throw new Error('has a badly percent-encoded user name or password');
    }
  }
  return settings;
}

interface SmtpMailTransportOptions {
  /** SMTP_URL */
  url: string;
  /** MAIL_FROM: `no-reply@example.com` or `Example <no-reply@example.com>` */
  from: string;
  /** Bound on connecting, the greeting and each socket wait; 10 s to connect and greet, 15 s idle by default. */
  timeoutMs?: number;
}

export class SmtpMailTransport implements MailTransport {
  readonly name = 'smtp';
  readonly #transporter: Transporter<SMTPPoolSentMessageInfo, SMTPPoolOptions>;
  readonly #from: string;
  readonly #domain: string;

  constructor(options: SmtpMailTransportOptions) {
    const domain = /@([^\s<>@]+)>?\s*$/.exec(options.from)?.[1];
    if (!domain) throw new Error('MAIL_FROM must be an address like no-reply@example.com or "Example <no-reply@example.com>"');
    this.#from = options.from;
    this.#domain = domain;
    const t = options.timeoutMs;
    const pool: SMTPPoolOptions & { pool: true } = {
      ...parseSmtpUrl(options.url),
      pool: true,
      maxConnections: 3,
      connectionTimeout: t ?? 10_000,
      greetingTimeout: t ?? 10_000,
      socketTimeout: t ?? 15_000,
      dnsTimeout: t ?? 10_000,
      disableFileAccess: true,
      disableUrlAccess: true,
      logger: false,
    };
    this.#transporter = nodemailer.createTransport(pool);
  }

  async send(mail: OutgoingMail): Promise<void> {
    try {
      await this.#transporter.sendMail({
        from: this.#from,
        to: mail.to,
        subject: mail.subject,
        text: mail.text,
        html: mail.html,
        messageId: `<${mail.id.replace(/[^A-Za-z0-9_-]/g, '-')}@${this.#domain}>`,
        headers: { 'X-Authstream-Message-Id': mail.id },
      });
    } catch (err) {
      throw deliveryError(err);
    }
  }

  async close(): Promise<void> {
    this.#transporter.close();
  }
}

const CODE = /^[A-Z][A-Z0-9_]{1,30}$/;

/** Our words for a nodemailer failure; the vendor error is not kept (its text may quote the address). */
function deliveryError(err: unknown): DeliveryError {
  const e: NodemailerError = err instanceof Error ? err : new Error('unknown');
  const code = typeof e.code === 'string' && CODE.test(e.code) ? e.code : undefined;
  const reply = e.responseCode;
  if (code === 'EAUTH' || code === 'ENOAUTH') {
    // Our credentials, not the message: an operator's fix makes a retry succeed.
    return new DeliveryError(`smtp authentication failed${reply ? ` (${reply})` : ''}`, false);
  }
  if (typeof reply === 'number' && reply >= 200 && reply < 600) {
    // RFC 5321: 5yz refuses for good, 4yz for now; 503 (bad sequence) is the session, not the message.
    if (reply >= 500 && reply !== 503) return new DeliveryError(`smtp ${reply} rejected`, true);
    return new DeliveryError(`smtp ${reply} deferred`, false);
  }
  const cause = typeof e.originalCode === 'string' && CODE.test(e.originalCode) ? e.originalCode : code;
  if (cause === 'ECONNREFUSED') return new DeliveryError('smtp connection refused', false);
  if (cause === 'ETIMEDOUT') return new DeliveryError('smtp timed out', false);
  if (code === 'EDNS') return new DeliveryError('smtp host not found', false);
  if (code === 'ETLS') return new DeliveryError('smtp tls failed', false);
  if (code === 'EENVELOPE') return new DeliveryError('smtp envelope refused', true);
  return new DeliveryError(`smtp failed${cause ? ` (${cause})` : ''}`, false);
}
