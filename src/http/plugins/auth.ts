/**
 * Bearer authentication. Access tokens are EdDSA JWTs verified with fast-jwt (the engine
 * under @fastify/jwt) against the key named by their `kid` (only EdDSA is accepted), with
 * issuer and audience checked and verified tokens cached; then the session is checked
 * against the in-memory revocation set, fed by the event subscription, so a revoked
 * session's tokens fail at once without a database round trip. Role checks live here too,
 * in one place.
 */
import fastifyJwt, { type TokenOrHeader } from '@fastify/jwt';
import { createSigner, createVerifier } from 'fast-jwt';
import fp from 'fastify-plugin';
import { randomUUID } from 'node:crypto';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { rotateRefresh } from '../../commands/rotateRefresh.js';
import type { IssuedTokens } from '../../commands/sessions.js';
import { InvalidTokenError } from '../../domain/errors.js';
import { BoundedMap } from '../../lib/boundedMap.js';
import { hashToken } from '../../infra/secrets.js';
import type { Runtime } from '../../composition/runtime.js';
import { eventContext } from '../context.js';
import { HttpProblem } from '../problem.js';

export interface AccessClaims {
  iss: string;
  aud: string;
  sub: string;
  sid: string;
  iat: number;
  exp: number;
  jti: string;
  roles: string[];
}

export interface AuthContext {
  userId: string;
  sessionId: string;
  roles: string[];
  claims: AccessClaims;
}

declare module 'fastify' {
  interface FastifyRequest {
    auth: AuthContext | null;
  }
  interface FastifyInstance {
    authenticate: (request: FastifyRequest, reply: FastifyReply) => Promise<void>;
    requireRole: (...roles: string[]) => (request: FastifyRequest, reply: FastifyReply) => Promise<void>;
    signAccessToken: (claims: { userId: string; sessionId: string; roles: string[] }) => { token: string; expiresIn: number };
    /** Verifies a bearer token the way `authenticate` does; throws InvalidTokenError. */
    verifyAccessToken: (token: string) => Promise<AccessClaims>;
    /**
     * Rotates a refresh token for a request (see refreshCoordinator): concurrent requests
     * with one token get one winner, the rest invalid_token, and no reuse detection.
     */
    rotateRefreshToken: (request: FastifyRequest, refreshToken: string) => Promise<IssuedTokens>;
  }
}

declare module '@fastify/jwt' {
  interface FastifyJWT {
    payload: Omit<AccessClaims, 'iss' | 'aud' | 'iat' | 'exp'>;
    user: AccessClaims;
  }
}

/** The auth scheme is case-insensitive (RFC 9110 §11.1); the token is a compact JWS. */
const BEARER_SCHEME = /^Bearer(?:\s|$)/i;
const BEARER = /^Bearer[ \t]+([A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+)$/i;

/** The JWT of a well-formed `Authorization: Bearer …` header, or undefined. */
function bearerToken(header: unknown): string | undefined {
  return typeof header === 'string' ? BEARER.exec(header.trim())?.[1] : undefined;
}

/** How many verified access tokens are remembered (by their exact text). */
const VERIFIED_TOKENS_CACHED = 10_000;

/** The protected header of a compact JWS (throws on anything else). */
function headerOf(token: string): { kid?: unknown } {
  const header: unknown = JSON.parse(Buffer.from(token.slice(0, token.indexOf('.')), 'base64url').toString('utf8'));
  if (typeof header !== 'object' || header === null) throw new InvalidTokenError();
  return header as { kid?: unknown };
}

export const authPlugin = fp(async (app: FastifyInstance, opts: { runtime: Runtime }) => {
  const { runtime } = opts;
  const issuer = runtime.config.publicUrl;
  const audience = runtime.config.jwtAudience;

  const publicKeyFor = (kid: unknown): string => {
    const key = typeof kid === 'string' ? runtime.signingKeys.byKid(kid) : undefined;
    if (!key) throw new InvalidTokenError('unknown signing key');
    return key.publicPem;
  };

  // @fastify/jwt provides app.jwt (decode, sign with the current key for tooling); the
  // request path below verifies through fast-jwt directly (see verifyToken).
  await app.register(fastifyJwt, {
    secret: {
      private: runtime.signingKeys.current().privatePem,
      public: async (_request: FastifyRequest, token: TokenOrHeader) => publicKeyFor('header' in token ? token.header.kid : token.kid),
    },
    sign: { algorithm: 'EdDSA', iss: issuer, aud: audience },
    verify: { algorithms: ['EdDSA'], allowedIss: issuer, allowedAud: audience },
    decode: { complete: true },
  });

  app.decorateRequest('auth', null);

  const checkSession = (claims: AccessClaims): AccessClaims => {
    if (typeof claims.sid !== 'string' || typeof claims.sub !== 'string' || runtime.revocations.isRevoked(claims.sid)) {
      throw new InvalidTokenError();
    }
    return claims;
  };

  // One fast-jwt verifier per signing key (parsing the PEM once), rebuilt if the kid's key changes.
  const verifiers = new Map<string, { pem: string; verify: (token: string) => unknown }>();
  const verifierFor = (kid: unknown): ((token: string) => unknown) => {
    if (typeof kid !== 'string') throw new InvalidTokenError('unknown signing key');
    const pem = publicKeyFor(kid);
    let entry = verifiers.get(kid);
    if (entry?.pem !== pem) {
      if (verifiers.size >= 16) verifiers.clear();
      entry = {
        pem,
        verify: createVerifier({
          key: pem, algorithms: ['EdDSA'], allowedIss: issuer, allowedAud: audience,
          requiredClaims: ['sub', 'sid', 'exp', 'iat', 'jti'], cache: false,
        }),
      };
      verifiers.set(kid, entry);
    }
    return entry.verify;
  };
  // Verified tokens, oldest dropped first. Looked up by the signature segment (86 characters
  // for Ed25519: a Map hashes the key it is given, and hashing the whole ~500-character token
  // of every request was 3.5 % of a cached GET /v1/me) and answered only when the whole
  // token text is the one that was verified, so no other token can hit; no cryptographic
  // hash is computed per request. Holding the texts costs about a kilobyte an entry.
  // Failures are not remembered.
  const verified = new BoundedMap<string, { token: string; claims: AccessClaims; kid: string }>(VERIFIED_TOKENS_CACHED);
  const signatureOf = (token: string): string => token.slice(token.lastIndexOf('.') + 1);

  /**
   * Signature, algorithm (EdDSA only), kid, issuer, audience, expiry and required claims;
   * a token verified before is answered from `verified` while it has not expired and its
   * key is still published. Revocation is checked by the caller on every use.
   */
  const verifyToken = (token: string): AccessClaims => {
    const now = Date.now();
    const signature = signatureOf(token);
    const hit = verified.get(signature);
    if (hit && hit.token === token && hit.claims.exp * 1000 > now && runtime.signingKeys.byKid(hit.kid)) return hit.claims;
    try {
      const kid = headerOf(token).kid;
      const claims = verifierFor(kid)(token) as AccessClaims;
      verified.set(signature, { token, claims, kid: kid as string });
      return claims;
    } catch {
      if (verified.get(signature)?.token === token) verified.delete(signature);
      throw new InvalidTokenError();
    }
  };

  // For tokens that do not come in a request header (introspection): the same checks.
  app.decorate('verifyAccessToken', async (token: string): Promise<AccessClaims> => checkSession(verifyToken(token)));

  app.decorate('authenticate', async (request: FastifyRequest) => {
    const header = request.headers.authorization;
    if (typeof header !== 'string' || !BEARER_SCHEME.test(header.trim())) {
      throw new HttpProblem('unauthorized', 'an Authorization: Bearer token is required');
    }
    const token = bearerToken(header);
    if (token === undefined) throw new InvalidTokenError('malformed bearer token');
    const claims = checkSession(verifyToken(token));
    request.auth = { userId: claims.sub, sessionId: claims.sid, roles: Array.isArray(claims.roles) ? claims.roles : [], claims };
  });

  app.decorate('requireRole', (...roles: string[]) => async (request: FastifyRequest, reply: FastifyReply) => {
    await app.authenticate(request, reply);
    if (!request.auth || !roles.some((r) => request.auth?.roles.includes(r))) {
      throw new HttpProblem('forbidden', `this needs the role ${roles.join(' or ')}`);
    }
  });

  const refreshOnce = refreshCoordinator((token, request) => rotateRefresh(runtime.deps, token, eventContext(request, null)));
  app.decorate('rotateRefreshToken', (request: FastifyRequest, refreshToken: string) => refreshOnce(refreshToken, request));
  app.addHook('onSend', async (request, _reply, payload) => {
    refreshAnswered(request);
    return payload;
  });

  // Signing goes through fast-jwt (the engine under @fastify/jwt) with one signer per key and
  // lifetime: a per-call @fastify/jwt signer re-parses the PEM key each time (~1 ms a token),
  // a kept one signs in well under 0.1 ms.
  const signers = new Map<string, (payload: Record<string, unknown>) => string>();
  const signerFor = (kid: string, privatePem: string, ttlSeconds: number) => {
    const cacheKey = `${kid}:${ttlSeconds}`;
    let signer = signers.get(cacheKey);
    if (!signer) {
      if (signers.size >= 16) signers.clear();
      signer = createSigner({ key: privatePem, kid, algorithm: 'EdDSA', iss: issuer, aud: audience, expiresIn: ttlSeconds * 1000 });
      signers.set(cacheKey, signer);
    }
    return signer;
  };

  app.decorate('signAccessToken', ({ userId, sessionId, roles }: { userId: string; sessionId: string; roles: string[] }) => {
    const key = runtime.signingKeys.current();
    const expiresIn = runtime.settings.current().access_token_ttl_seconds;
    const token = signerFor(key.kid, key.privatePem, expiresIn)({ sub: userId, sid: sessionId, roles, jti: randomUUID() });
    return { token, expiresIn };
  });
}, { name: 'authstream-auth' });

/** How long a finished refresh is remembered, to recognise requests that raced it. */
const RACED_REFRESH_MEMORY_MS = 30_000;

interface Flight {
  done: Promise<boolean>;
  /** hrtime when the winner's answer was sent (null until then). */
  answeredAt: bigint | null;
}

/** The flight a request won, so its answer can mark the moment the new token left. */
const wonFlights = new WeakMap<FastifyRequest, Flight>();

/**
 * Marks a won refresh as answered; call it when the request's answer is sent (onSend).
 * Without it (no answer sent) a flight counts as unanswered until it is forgotten.
 */
export function refreshAnswered(request: FastifyRequest): void {
  const flight = wonFlights.get(request);
  if (flight && flight.answeredAt === null) flight.answeredAt = process.hrtime.bigint();
}

/**
 * Concurrent refreshes of one token (two tabs, a retried request) are not theft. Rotation
 * appends with an expected revision, so of N simultaneous refreshes one wins; but a loser
 * that reads the session stream just after the winner's append would see an already
 * rotated token and revoke the whole session as reused. So, on this instance: a request
 * that arrived (onRequest) before the winning refresh of the same token was answered
 * cannot come from a client that saw the new token: it lost the race and gets
 * invalid_token without touching the store. One that arrived after the answer left is a
 * replay and goes to the command, which detects the reuse.
 */
export function refreshCoordinator(
  rotate: (token: string, request: FastifyRequest) => Promise<IssuedTokens>,
): (token: string, request: FastifyRequest) => Promise<IssuedTokens> {
  const flights = new Map<string, Flight>();
  return async (token, request) => {
    const key = hashToken(token);
    const arrivedAt = request.startedAt > 0n ? request.startedAt : process.hrtime.bigint();
    const prior = flights.get(key);
    if (prior) {
      const succeeded = await prior.done;
      if (succeeded && (prior.answeredAt === null || arrivedAt <= prior.answeredAt)) {
        throw new InvalidTokenError('this refresh token was used by a concurrent request');
      }
    }
    let settle: (ok: boolean) => void = () => {};
    const flight: Flight = { done: new Promise<boolean>((resolve) => { settle = resolve; }), answeredAt: null };
    flights.set(key, flight);
    let ok = false;
    try {
      const issued = await rotate(token, request);
      ok = true;
      wonFlights.set(request, flight);
      return issued;
    } finally {
      settle(ok);
      setTimeout(() => {
        if (flights.get(key) === flight) flights.delete(key);
      }, RACED_REFRESH_MEMORY_MS).unref();
    }
  };
}
