/**
 * Access tokens: EdDSA JWTs signed with the current signing key and verified with fast-jwt
 * (the engine under @fastify/jwt) against the key named by their `kid` (only EdDSA is
 * accepted), issuer and audience checked, verified tokens cached; then the session is
 * checked against the in-memory revocation set and the user's cut-off (userCutoffs.ts),
 * both fed by the event subscription, so a revoked session's tokens and a disabled user's
 * fail at once without a database round trip.
 *
 * Besides the registered claims a token carries `urv`, the revision of the user stream it
 * was issued against (decimal string), and `sxp`, when its session's refresh token expires
 * (seconds): no token, a sliding one included, outlives its session.
 */
import { createSigner, createVerifier } from 'fast-jwt';
import { randomUUID } from 'node:crypto';
import { InvalidTokenError } from '../domain/errors.js';
import type { SettingsValues } from '../domain/events.js';
import type { SigningKeys } from '../infra/signingKeys/signingKeys.js';
import { BoundedMap } from '../lib/boundedMap.js';
import type { RevocationSet } from './revocations.js';
import type { UserCutoffs } from './userCutoffs.js';

export interface AccessClaims {
  iss: string;
  aud: string;
  sub: string;
  sid: string;
  iat: number;
  exp: number;
  jti: string;
  roles: string[];
  /** The user-stream revision the token was issued against (absent on tokens from before it existed). */
  urv?: string;
  /** When the session's refresh token expires, in seconds since the epoch. */
  sxp?: number;
  /** How the session was signed in (RFC 8176: pwd, otp, hwk). */
  amr?: string[];
}

/** What a token is signed for. */
export interface TokenSubject {
  userId: string;
  sessionId: string;
  roles: string[];
  userRevision: bigint | string;
  sessionExpiresAt: Date | number;
  /** RFC 8176 authentication methods of the session (left out: none claimed). */
  amr?: readonly string[];
}

export interface AccessTokensOptions {
  signingKeys: SigningKeys;
  revocations: Pick<RevocationSet, 'isRevoked'>;
  cutoffs: Pick<UserCutoffs, 'allows'>;
  settings: () => SettingsValues;
  issuer: string;
  audience: string;
}

/** How many verified access tokens are remembered (by their exact text). */
const VERIFIED_TOKENS_CACHED = 10_000;

/** The protected header of a compact JWS (throws on anything else). */
function headerOf(token: string): { kid?: unknown } {
  const header: unknown = JSON.parse(Buffer.from(token.slice(0, token.indexOf('.')), 'base64url').toString('utf8'));
  if (typeof header !== 'object' || header === null) throw new InvalidTokenError();
  return header as { kid?: unknown };
}

const signatureOf = (token: string): string => token.slice(token.lastIndexOf('.') + 1);

export class AccessTokens {
  readonly #o: AccessTokensOptions;
  /** One fast-jwt verifier per signing key (parsing the PEM once), rebuilt if the kid's key changes. */
  readonly #verifiers = new Map<string, { pem: string; verify: (token: string) => unknown }>();
  /**
   * Verified tokens, oldest dropped first. Looked up by the signature segment (86 characters
   * for Ed25519: a Map hashes the key it is given, and hashing the whole ~500-character token
   * of every request was 3.5 % of a cached GET /v1/me) and answered only when the whole
   * token text is the one that was verified, so no other token can hit; no cryptographic
   * hash is computed per request. Holding the texts costs about a kilobyte an entry.
   * Failures are not remembered.
   */
  readonly #verified = new BoundedMap<string, { token: string; claims: AccessClaims; kid: string }>(VERIFIED_TOKENS_CACHED);
  /**
   * One fast-jwt signer per key and lifetime: a per-call @fastify/jwt signer re-parses the
   * PEM key each time (~1 ms a token), a kept one signs in well under 0.1 ms.
   */
  readonly #signers = new Map<string, (payload: Record<string, unknown>) => string>();

  constructor(options: AccessTokensOptions) {
    this.#o = options;
  }

  /** The public key of `kid`, for verifiers that take a PEM (@fastify/jwt). */
  publicKeyFor(kid: unknown): string {
    const key = typeof kid === 'string' ? this.#o.signingKeys.byKid(kid) : undefined;
    if (!key) throw new InvalidTokenError('unknown signing key');
    return key.publicPem;
  }

  /** Signature, kid, issuer, audience, expiry, required claims, and a session not revoked; throws InvalidTokenError. */
  verify(token: string): AccessClaims {
    const claims = this.#verifySignature(token);
    if (typeof claims.sid !== 'string' || typeof claims.sub !== 'string' || this.#o.revocations.isRevoked(claims.sid)
      || !this.#o.cutoffs.allows(claims.sub, claims.sid, claims.urv)) {
      throw new InvalidTokenError();
    }
    return claims;
  }

  /**
   * Signs a token for the current lifetime setting, cut short to its session's end. Throws
   * InvalidTokenError when the session has ended.
   */
  sign(subject: TokenSubject): { token: string; expiresIn: number } {
    const key = this.#o.signingKeys.current();
    const sxp = Math.floor((typeof subject.sessionExpiresAt === 'number' ? subject.sessionExpiresAt * 1000 : subject.sessionExpiresAt.getTime()) / 1000);
    const left = sxp - Math.floor(Date.now() / 1000);
    if (left <= 0) throw new InvalidTokenError('the session has ended');
    const expiresIn = Math.min(this.#o.settings().access_token_ttl_seconds, left);
    const token = this.#signerFor(key.kid, key.privatePem, expiresIn)({
      sub: subject.userId, sid: subject.sessionId, roles: subject.roles, jti: randomUUID(), urv: String(subject.userRevision), sxp,
      ...(subject.amr ? { amr: subject.amr } : {}),
    });
    return { token, expiresIn };
  }

  /**
   * A token verified before is answered from the cache while it has not expired and its
   * key is still published. Revocation is checked by `verify` on every use.
   */
  #verifySignature(token: string): AccessClaims {
    const now = Date.now();
    const signature = signatureOf(token);
    const hit = this.#verified.get(signature);
    if (hit && hit.token === token && hit.claims.exp * 1000 > now && this.#o.signingKeys.byKid(hit.kid)) return hit.claims;
    try {
      const kid = headerOf(token).kid;
      const claims = this.#verifierFor(kid)(token) as AccessClaims;
      this.#verified.set(signature, { token, claims, kid: kid as string });
      return claims;
    } catch {
      if (this.#verified.get(signature)?.token === token) this.#verified.delete(signature);
      throw new InvalidTokenError();
    }
  }

  #verifierFor(kid: unknown): (token: string) => unknown {
    if (typeof kid !== 'string') throw new InvalidTokenError('unknown signing key');
    const pem = this.publicKeyFor(kid);
    let entry = this.#verifiers.get(kid);
    if (entry?.pem !== pem) {
      if (this.#verifiers.size >= 16) this.#verifiers.clear();
      entry = {
        pem,
        verify: createVerifier({
          key: pem, algorithms: ['EdDSA'], allowedIss: this.#o.issuer, allowedAud: this.#o.audience,
          requiredClaims: ['sub', 'sid', 'exp', 'iat', 'jti'], cache: false,
        }),
      };
      this.#verifiers.set(kid, entry);
    }
    return entry.verify;
  }

  #signerFor(kid: string, privatePem: string, ttlSeconds: number): (payload: Record<string, unknown>) => string {
    const cacheKey = `${kid}:${ttlSeconds}`;
    let signer = this.#signers.get(cacheKey);
    if (!signer) {
      if (this.#signers.size >= 16) this.#signers.clear();
      signer = createSigner({
        key: privatePem, kid, algorithm: 'EdDSA', iss: this.#o.issuer, aud: this.#o.audience, expiresIn: ttlSeconds * 1000,
      });
      this.#signers.set(cacheKey, signer);
    }
    return signer;
  }
}
