/**
 * Outgoing messages: what the messages reactor hands to a transport. A message is rendered
 * already (templates in reactors/messages/); transports only deliver. `id` is stable across
 * retries of one message (the id of the event that asked for it), for transports and
 * receivers that de-duplicate.
 */

export interface OutgoingMail {
  id: string;
  to: string;
  subject: string;
  text: string;
  html: string;
}

export interface OutgoingSms {
  id: string;
  /** E.164 */
  to: string;
  body: string;
}

export interface MailTransport {
  /** For logs and status: "smtp", "log" or "none". */
  readonly name: string;
  /** Resolves once the server accepted the message; throws DeliveryError otherwise. */
  send(mail: OutgoingMail): Promise<void>;
  close(): Promise<void>;
}

export interface SmsTransport {
  readonly name: string;
  send(sms: OutgoingSms): Promise<void>;
  close(): Promise<void>;
}

/**
 * Why a delivery failed, in words safe to record (no address, no token, no message text).
 * `permanent`: retrying cannot help (the server refused the recipient for good, the
 * endpoint answered 4xx other than 408/429); otherwise the reactor retries with backoff.
 */
export class DeliveryError extends Error {
  readonly permanent: boolean;
  constructor(reason: string, permanent: boolean, options?: { cause?: unknown }) {
    super(reason, options);
    this.name = 'DeliveryError';
    this.permanent = permanent;
  }
}
