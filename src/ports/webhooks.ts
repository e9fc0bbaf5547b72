/**
 * Outbound webhooks: what the webhook reactors hand to the sender (infra/webhooks/). One
 * POST of one event to one endpoint, signed as the Standard Webhooks specification says.
 */

export interface WebhookRequest {
  /** The endpoint's URL (validated when the endpoint was saved; checked again at delivery). */
  url: string;
  /** `whsec_<base64>`: the endpoint's signing secret. */
  secret: string;
  /** `webhook-id`: the event id, the same on every retry. */
  id: string;
  /** The JSON body, exactly as signed. */
  body: string;
}

export interface WebhookResponse {
  /** The HTTP status, or null when there was none (refused, timed out, blocked). */
  status: number | null;
  /** 2xx within the timeout. */
  ok: boolean;
  /** Why it failed, in words safe to store and show (no secret, no body). */
  error: string | null;
  /** How long it took. */
  ms: number;
}

export interface WebhookSender {
  send(request: WebhookRequest): Promise<WebhookResponse>;
}
