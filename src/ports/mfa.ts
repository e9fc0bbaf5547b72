/**
 * Second factors as the commands see them: one-time codes (RFC 6238), WebAuthn ceremonies,
 * and the sign-in tickets, challenges and recovery codes made with a server key
 * (src/infra/mfa/). Options and responses of WebAuthn are the JSON the browser API takes
 * and gives (W3C WebAuthn Level 3, `toJSON()`); only the adapter looks inside them.
 */

export interface OneTimeCodes {
  /** A new secret: 160 random bits in base32, as authenticator apps take it. */
  newSecret(): string;
  /** The time step around `now` (one either side, for clock drift) whose code `code` is; null for none. */
  matchStep(secret: string, code: string, now: Date): number | null;
  /** The `otpauth://totp/…` URI an authenticator app scans. */
  uri(secret: string, account: string): string;
  /** That URI as a QR code: an SVG `data:` URL. */
  qrCode(uri: string): Promise<string>;
}

export type JsonOptions = Record<string, unknown>;

/** A passkey as stored: its id and COSE public key in base64url. */
export interface StoredCredential {
  credentialId: string;
  publicKey: string;
  signCount: number;
  transports: string[];
}

export interface RegisteredCredential extends StoredCredential {
  deviceType: 'singleDevice' | 'multiDevice';
  backedUp: boolean;
  aaguid: string;
}

export interface Passkeys {
  registrationOptions(c: {
    userId: string; userName: string; displayName: string; challenge: Uint8Array; exclude: StoredCredential[];
  }): Promise<JsonOptions>;
  /** null when the response does not verify (wrong challenge, origin, RP, signature…). */
  verifyRegistration(response: unknown, challengeOk: (challenge: Uint8Array) => boolean): Promise<RegisteredCredential | null>;
  /** `allow` empty: any discoverable credential (a passkey sign-in, which then requires user verification). */
  authenticationOptions(c: { challenge: Uint8Array; allow: StoredCredential[] }): Promise<JsonOptions>;
  /**
   * The new signature counter when `response` is a valid assertion of `credential` over an
   * accepted challenge, with user verification when `requireUserVerification`; null otherwise.
   */
  verifyAuthentication(
    response: unknown, credential: StoredCredential, challengeOk: (challenge: Uint8Array) => boolean, requireUserVerification: boolean,
  ): Promise<{ signCount: number } | null>;
  /** The credential id and user handle (a user id) an assertion names; null when it is not one. */
  assertionSubject(response: unknown): { credentialId: string; userId: string | null } | null;
}

export type ChallengePurpose = 'passkey-register' | 'passkey-login';

/** Server-keyed secrets of second factors (src/infra/mfa/tickets.ts). */
export interface MfaSecrets {
  /** A sign-in ticket naming the user and the challenge; only its hash is recorded. */
  newTicket(userId: string, challengeId: string): { ticket: string; hash: string };
  /** null when the ticket is not of our shape. */
  parseTicket(ticket: string): { userId: string; challengeId: string; hash: string } | null;
  /** The WebAuthn challenge of a sign-in ticket: derived, so nothing more is stored. */
  ticketChallenge(challengeId: string): Uint8Array;
  /** A self-checking WebAuthn challenge for `purpose` and `subject` (a user id or ''), good for `ttlMs`. */
  newChallenge(purpose: ChallengePurpose, subject: string, now: Date, ttlMs: number): Uint8Array;
  /** The challenge's nonce if it is ours, for this purpose and subject, and not expired; null otherwise. */
  checkChallenge(purpose: ChallengePurpose, subject: string, challenge: Uint8Array, now: Date): string | null;
  /** Ten recovery codes (`xxxxx-xxxxx`) for a batch and their keyed hashes. */
  newRecoveryCodes(batchId: string): { codes: string[]; hashes: string[] };
  /** The keyed hash of a code as a user typed it (spaces, dashes and case do not matter). */
  recoveryCodeHash(batchId: string, code: string): string;
}
