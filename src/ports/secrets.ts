/** Keyed identifier hashes, refresh tokens, reset and verification tokens (infra/secrets.ts). */
import type { IdentifierKind, MessagePurpose } from '../domain/events.js';

export interface ParsedRefreshToken {
  sessionId: string;
  /** SHA-256 of the whole token, as events record it. */
  hash: string;
  /** The revision of the session stream's event that recorded it (null: a token from before generations). */
  generation: bigint | null;
}

export interface Secrets {
  identifierHash(kind: IdentifierKind, normalised: string): string;
  /** A refresh token of the session, whose hash the event at revision `generation` of its stream records. */
  newRefreshToken(sessionId: string, generation: bigint): { token: string; hash: string };
  /** null when the token is not of our shape. */
  parseRefreshToken(token: string): ParsedRefreshToken | null;
  /**
   * The token of a link (reset or email verification) for one request: 256 bits derived
   * with a server key from the purpose, user and request id, so the messages reactor can
   * write it again from the event while no event holds it. Carries the user id.
   */
  linkToken(purpose: MessagePurpose, userId: string, requestId: string): string;
  /** The user id a link token names; null when it is not of our shape. */
  parseLinkToken(token: string): { userId: string } | null;
  /** The 6-digit code of a request, derived the same way. */
  code(purpose: MessagePurpose, userId: string, requestId: string): string;
  /** The keyed hash an event records of a token or code (bound to its request). */
  tokenHash(requestId: string, tokenOrCode: string): string;
  /** Timing-safe comparison of two such hashes. */
  sameHash(a: string, b: string): boolean;
  /** A request id no one can link to `seed` without the server key (a reactor's idempotent ids). */
  derivedId(seed: string): string;
  /** A new webhook signing secret: `whsec_` + base64 of 32 random bytes (Standard Webhooks). */
  newWebhookSecret(): string;
  /** The secret sealed for its WebhookCreated event, bound to the webhook id. */
  sealWebhookSecret(webhookId: string, secret: string): string;
  /** null when it does not open (another master key, tampering). */
  openWebhookSecret(webhookId: string, sealed: string): string | null;
}
