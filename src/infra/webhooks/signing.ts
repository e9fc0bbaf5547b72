/**
 * Standard Webhooks signatures (https://www.standardwebhooks.com/): `v1,` + base64 of
 * HMAC-SHA256 over `<webhook-id>.<webhook-timestamp>.<body>`, keyed with the bytes of the
 * secret (the base64 after `whsec_`). Receivers verify with the specification's libraries.
 */
import { createHmac } from 'node:crypto';

const PREFIX = 'whsec_';

export const isWebhookSecret = (s: string): boolean => s.startsWith(PREFIX) && Buffer.from(s.slice(PREFIX.length), 'base64').length >= 24;

export function signWebhook(secret: string, id: string, timestampSeconds: number, body: string): string {
  const key = Buffer.from(secret.startsWith(PREFIX) ? secret.slice(PREFIX.length) : secret, 'base64');
  return `v1,${createHmac('sha256', key).update(`${id}.${timestampSeconds}.${body}`).digest('base64')}`;
}
