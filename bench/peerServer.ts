/**
 * The peer: oidc-provider (v9), an in-memory OpenID provider, run as a child process of
 * the suite so its refresh-token grants are measured against authstream's in the same run.
 *
 * Configured like authstream's refresh: rotation on every use (`rotateRefreshToken:
 * true`; a reused token revokes its grant), JWT access tokens signed with Ed25519 (EdDSA,
 * the service's algorithm) through a resource server (`resourceIndicators`,
 * `accessTokenFormat: 'jwt'`), the same lifetimes (access 300 s, refresh 30 days). Its
 * store is the package's in-memory adapter: nothing it issues survives the process, so it
 * is not durable and does no I/O per refresh (authstream commits every rotation to
 * PostgreSQL).
 *
 * Usage: `peerServer <tokens>`. At start-up it mints `tokens` grants, each with one
 * refresh token, through the provider's own models (what the authorization_code grant
 * stores for a client that asked for offline_access), then prints one JSON line on stdout:
 * `{ url, clientId, clientSecret, refreshTokens }`. Stops on SIGTERM.
 */
import { generateKeyPairSync, randomBytes } from 'node:crypto';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import Provider, { type Configuration } from 'oidc-provider';

/** The one resource server the JWT access tokens are for. */
const RESOURCE = 'urn:authstream:bench:api';
const CLIENT_ID = 'bench-client';
const CLIENT_SECRET = randomBytes(24).toString('base64url');

/** An Ed25519 signing key (a fresh one per run, as the service's bench database gets). */
function signingKey(): Record<string, unknown> {
  const jwk = generateKeyPairSync('ed25519').privateKey.export({ format: 'jwk' });
  return { ...jwk, kid: randomBytes(8).toString('hex'), alg: 'EdDSA', use: 'sig' };
}

function configuration(): Configuration {
  return {
    clients: [{
      client_id: CLIENT_ID,
      client_secret: CLIENT_SECRET,
      grant_types: ['authorization_code', 'refresh_token'],
      response_types: ['code'],
      redirect_uris: ['https://client.example/cb'],
      token_endpoint_auth_method: 'client_secret_post',
      id_token_signed_response_alg: 'EdDSA',
    }],
    jwks: { keys: [signingKey()] },
    scopes: ['openid', 'offline_access', 'api'],
    rotateRefreshToken: true,
    // Every account exists, answered from memory (authstream reads the user stream on every refresh).
    findAccount: async (_ctx, sub) => ({ accountId: sub, claims: async () => ({ sub }) }),
    ttl: { AccessToken: 300, RefreshToken: 2_592_000, Grant: 2_592_000, AuthorizationCode: 60, Session: 2_592_000, Interaction: 3600, IdToken: 300 },
    features: {
      devInteractions: { enabled: false },
      resourceIndicators: {
        enabled: true,
        defaultResource: async () => RESOURCE,
        useGrantedResource: async () => true,
        getResourceServerInfo: async () => ({
          scope: 'api', audience: RESOURCE, accessTokenTTL: 300, accessTokenFormat: 'jwt', jwt: { sign: { alg: 'EdDSA' } },
        }),
      },
    },
    cookies: { keys: [randomBytes(32).toString('base64url')] },
  };
}

/** `count` grants with one refresh token each, as an authorization_code grant leaves them. */
async function mintRefreshTokens(provider: Provider, count: number): Promise<string[]> {
  const client = await provider.Client.find(CLIENT_ID);
  if (!client) throw new Error('the peer has no client');
  const out: string[] = [];
  for (let i = 0; i < count; i++) {
    const accountId = `bench-user-${i}`;
    const grant = new provider.Grant({ accountId, clientId: CLIENT_ID });
    grant.addOIDCScope('offline_access');
    grant.addResourceScope(RESOURCE, 'api');
    const grantId = await grant.save();
    const token = new provider.RefreshToken({
      accountId, client, grantId, scope: 'offline_access api', resource: RESOURCE, gty: 'authorization_code',
    });
    out.push(await token.save());
  }
  return out;
}

const count = Number(process.argv[2] ?? '0');
if (!Number.isInteger(count) || count < 0) throw new Error(`peerServer: bad token count ${process.argv[2]}`);

// The issuer is only a name in the tokens; requests go to the port below.
const provider = new Provider('http://127.0.0.1', configuration());
const server = createServer(provider.callback());
await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
const { port } = server.address() as AddressInfo;
const refreshTokens = await mintRefreshTokens(provider, count);
process.stdout.write(`${JSON.stringify({ url: `http://127.0.0.1:${port}`, clientId: CLIENT_ID, clientSecret: CLIENT_SECRET, refreshTokens })}\n`);

const stop = (): void => {
  server.close(() => process.exit(0));
  server.closeAllConnections();
};
process.on('SIGTERM', stop);
process.on('SIGINT', stop);
