/**
 * The peer of the refresh scenario: oidc-provider in a child process (bench/peerServer),
 * and its refresh_token grants driven with the same load shape as authstream's refresh
 * (one queue of single-use tokens, each 200 answer putting the rotated token back), so
 * `refresh ÷ peer` compares the two under the same connections, warm-up and seconds.
 */
import { tokenChain, type RefreshChain } from './load.js';
import { startPrinting, type Child } from './processes.js';

/** The running peer: its token endpoint's origin, its client, and refresh tokens to start from. */
export interface Peer extends Child {
  clientId: string;
  clientSecret: string;
  refreshTokens: string[];
}

/**
 * Starts the peer with `tokens` grants minted at its start-up (one refresh token each, as
 * many chains as authstream's refresh gets); reads them from its first stdout line.
 */
export async function startPeer(tokens: number, startTimeoutMs = 60_000): Promise<Peer> {
  const { child, line } = await startPrinting('./peerServer', [String(tokens)], 'the peer (oidc-provider)', startTimeoutMs);
  try {
    const p = JSON.parse(line) as { url: string; clientId: string; clientSecret: string; refreshTokens: string[] };
    if (p.refreshTokens.length !== tokens) throw new Error(`the peer minted ${p.refreshTokens.length} of ${tokens} refresh tokens`);
    return { ...child, url: p.url, clientId: p.clientId, clientSecret: p.clientSecret, refreshTokens: p.refreshTokens };
  } catch (e) {
    await child.stop(2000);
    throw new Error(`the peer's first line is not what was expected (${line.slice(0, 200)}): ${String(e)}`);
  }
}

/**
 * POST /token, grant_type=refresh_token, the client authenticated in the body
 * (client_secret_post), as an OAuth client sends it: form-encoded.
 */
export function peerRefreshRequests(peer: Peer): RefreshChain {
  return tokenChain(peer.url, peer.refreshTokens, {
    path: '/token',
    headers: { 'content-type': 'application/x-www-form-urlencoded' },
    body: (token) => new URLSearchParams({
      grant_type: 'refresh_token', refresh_token: token, client_id: peer.clientId, client_secret: peer.clientSecret,
    }).toString(),
    next: (body) => ({ refreshToken: (JSON.parse(body) as { refresh_token: string }).refresh_token }),
  });
}
