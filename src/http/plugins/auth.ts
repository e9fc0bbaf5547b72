/**
 * Bearer authentication for routes: reads the Authorization header, verifies the token
 * through tokens/accessTokens.ts (signature, kid, issuer, audience, expiry, revoked
 * session), sets `request.auth`, and checks roles in one place. Also decorates the app
 * with token signing and the coordinated refresh (tokens/refresh.ts) for the routes.
 */
import { PASSWORD_ONLY, tokenRoles } from '../../domain/mfa/amr.js';
import fastifyJwt, { type TokenOrHeader } from '@fastify/jwt';
import fp from 'fastify-plugin';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { IssuedTokens } from '../../commands/sessions.js';
import { InvalidTokenError } from '../../domain/errors.js';
import type { Runtime } from '../../composition/runtime.js';
import { AccessTokens, type AccessClaims, type TokenSubject } from '../../tokens/accessTokens.js';
import { refreshAnswered, refresher } from '../../tokens/refresh.js';
import { eventContext, refreshArrival } from '../context.js';
import { HttpProblem } from '../problem.js';

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
    signAccessToken: (subject: TokenSubject) => { token: string; expiresIn: number };
    /** A sliding token for an authenticated request: same session, roles and user revision; none for a token without them. */
    slidingAccessToken: (auth: AuthContext) => string | undefined;
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

export type { AccessClaims } from '../../tokens/accessTokens.js';

/** The auth scheme is case-insensitive (RFC 9110 §11.1); the token is a compact JWS. */
const BEARER_SCHEME = /^Bearer(?:\s|$)/i;
const BEARER = /^Bearer[ \t]+([A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+)$/i;

/** The JWT of a well-formed `Authorization: Bearer …` header, or undefined. */
function bearerToken(header: unknown): string | undefined {
  return typeof header === 'string' ? BEARER.exec(header.trim())?.[1] : undefined;
}

export const authPlugin = fp(async (app: FastifyInstance, opts: { runtime: Runtime }) => {
  const { runtime } = opts;
  const issuer = runtime.config.publicUrl;
  const audience = runtime.config.jwtAudience;
  const tokens = new AccessTokens({
    signingKeys: runtime.signingKeys, revocations: runtime.revocations, cutoffs: runtime.cutoffs, settings: () => runtime.settings.current(), issuer, audience,
  });

  // @fastify/jwt provides app.jwt (decode, sign with the current key for tooling); the
  // request path below verifies through tokens/accessTokens.ts.
  await app.register(fastifyJwt, {
    secret: {
      private: runtime.signingKeys.current().privatePem,
      public: async (_request: FastifyRequest, token: TokenOrHeader) => tokens.publicKeyFor('header' in token ? token.header.kid : token.kid),
    },
    sign: { algorithm: 'EdDSA', iss: issuer, aud: audience },
    verify: { algorithms: ['EdDSA'], allowedIss: issuer, allowedAud: audience },
    decode: { complete: true },
  });

  app.decorateRequest('auth', null);

  // For tokens that do not come in a request header (introspection): the same checks.
  app.decorate('verifyAccessToken', async (token: string): Promise<AccessClaims> => tokens.verify(token));

  app.decorate('authenticate', async (request: FastifyRequest) => {
    const header = request.headers.authorization;
    if (typeof header !== 'string' || !BEARER_SCHEME.test(header.trim())) {
      throw new HttpProblem('unauthorized', 'an Authorization: Bearer token is required');
    }
    const token = bearerToken(header);
    if (token === undefined) throw new InvalidTokenError('malformed bearer token');
    const claims = tokens.verify(token);
    request.auth = { userId: claims.sub, sessionId: claims.sid, roles: Array.isArray(claims.roles) ? claims.roles : [], claims };
  });

  app.decorate('requireRole', (...roles: string[]) => async (request: FastifyRequest, reply: FastifyReply) => {
    await app.authenticate(request, reply);
    if (!request.auth || !roles.some((r) => request.auth?.roles.includes(r))) {
      throw new HttpProblem('forbidden', `this needs the role ${roles.join(' or ')}`);
    }
  });

  const refresh = refresher(runtime.deps);
  app.decorate('rotateRefreshToken', (request: FastifyRequest, refreshToken: string) => {
    const arrival = refreshArrival(request);
    return refresh(refreshToken, { arrivedAt: arrival.hr, request, ...(arrival.connection ? { connection: arrival.connection } : {}) },
      { ...eventContext(request, null), now: arrival.wall });
  });
  app.addHook('onSend', async (request, _reply, payload) => {
    refreshAnswered(request);
    return payload;
  });

  app.decorate('signAccessToken', (subject: TokenSubject) => tokens.sign(subject));
  app.decorate('slidingAccessToken', (auth: AuthContext): string | undefined => {
    const { urv, sxp } = auth.claims;
    if (urv === undefined || typeof sxp !== 'number') return undefined;
    try {
      const amr = Array.isArray(auth.claims.amr) ? auth.claims.amr : PASSWORD_ONLY;
      // A role that now needs a second factor the session lacks does not slide into the new token.
      const { roles } = tokenRoles(auth.roles, amr, runtime.settings.current().mfa_required_roles);
      return tokens.sign({
        userId: auth.userId, sessionId: auth.sessionId, roles, userRevision: urv, sessionExpiresAt: sxp,
        ...(Array.isArray(auth.claims.amr) ? { amr: auth.claims.amr } : {}),
      }).token;
    } catch {
      return undefined; // the session has ended: no sliding token outlives it
    }
  });
}, { name: 'authstream-auth' });
