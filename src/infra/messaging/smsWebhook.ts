/**
 * SMS through an HTTP endpoint of the operator's choosing (SMS_WEBHOOK_URL): POST {"to","body"}
 * as JSON, bearer token when SMS_WEBHOOK_TOKEN is set, Idempotency-Key = message id.
 * Failures become DeliveryError naming only the status or the kind of network failure.
 */
import { DeliveryError, type OutgoingSms, type SmsTransport } from '../../ports/messages.js';

interface WebhookSmsTransportOptions {
  /** SMS_WEBHOOK_URL (http or https) */
  url: string;
  /** SMS_WEBHOOK_TOKEN, sent as `Authorization: Bearer <token>` */
  token?: string | undefined;
  /** Whole request, answer headers included; 15 s by default. */
  timeoutMs?: number;
}

export class WebhookSmsTransport implements SmsTransport {
  readonly name = 'webhook';
  readonly #url: string;
  readonly #token: string | undefined;
  readonly #timeoutMs: number;

  constructor(options: WebhookSmsTransportOptions) {
    let u: URL;
    try {
      u = new URL(options.url);
    } catch {
      throw new Error('SMS_WEBHOOK_URL is not a valid URL');
    }
    if (u.protocol !== 'http:' && u.protocol !== 'https:') throw new Error('SMS_WEBHOOK_URL must start with http:// or https://');
    this.#url = u.href;
    this.#token = options.token || undefined;
    this.#timeoutMs = options.timeoutMs ?? 15_000;
  }

  async send(sms: OutgoingSms): Promise<void> {
    const headers: Record<string, string> = { 'content-type': 'application/json', 'idempotency-key': sms.id };
    if (this.#token) headers.authorization = `Bearer ${this.#token}`;
    let res: Response;
    try {
      res = await fetch(this.#url, {
        method: 'POST',
        headers,
        body: JSON.stringify({ to: sms.to, body: sms.body }),
        // A redirect would carry the token and the message elsewhere: it counts as an answer.
        redirect: 'manual',
        signal: AbortSignal.timeout(this.#timeoutMs),
      });
    } catch (err) {
      throw networkError(err);
    }
    await res.body?.cancel().catch(() => {});
    if (res.status >= 200 && res.status < 300) return;
    const transient = res.status === 408 || res.status === 429 || res.status >= 500;
    throw new DeliveryError(`sms webhook answered ${res.status}`, !transient);
  }

  async close(): Promise<void> {}
}

/** A failed request in our words: timed out, or unreachable with the socket error's code. */
function networkError(err: unknown): DeliveryError {
  if (err instanceof Error && (err.name === 'TimeoutError' || err.name === 'AbortError')) {
    return new DeliveryError('sms webhook timed out', false);
  }
  const cause: unknown = err instanceof Error ? err.cause : undefined;
  const code = cause instanceof Error && 'code' in cause && typeof cause.code === 'string' && /^[A-Z_]{2,30}$/.test(cause.code)
    ? cause.code : undefined;
  return new DeliveryError(`sms webhook unreachable${code ? ` (${code})` : ''}`, false);
}
