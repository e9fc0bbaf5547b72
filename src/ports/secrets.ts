/** Keyed identifier hashes and refresh tokens (infra/secrets.ts). */
import type { IdentifierKind } from '../domain/events.js';

export interface Secrets {
  identifierHash(kind: IdentifierKind, normalised: string): string;
  newRefreshToken(sessionId: string): { token: string; hash: string };
  /** null when the token is not of our shape. */
  parseRefreshToken(token: string): { sessionId: string; hash: string } | null;
}
