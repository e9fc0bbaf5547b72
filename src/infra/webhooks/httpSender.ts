/**
 * Sends one webhook: a signed POST over node:http(s), with the address checked when the
 * connection is made (a custom lookup refuses blocked addresses, so a name cannot be
 * rebound to a metadata address), no redirects followed, at most `maxResponseBytes` of an
 * answer read, the whole exchange bounded by `timeoutMs`. Never rejects: the outcome says
 * what happened, in words free of the secret and the body.
 */
import { lookup as dnsLookup, type LookupAddress } from 'node:dns';
import http from 'node:http';
import https from 'node:https';
import { isIP, type LookupFunction } from 'node:net';
import type { WebhookRequest, WebhookResponse, WebhookSender } from '../../ports/webhooks.js';
import { isBlockedAddress, type WebhookPolicy } from './policy.js';
import { signWebhook } from './signing.js';

export interface HttpWebhookSenderOptions {
  policy: WebhookPolicy;
  timeoutMs?: number;
  maxResponseBytes?: number;
}

class Blocked extends Error {}

export class HttpWebhookSender implements WebhookSender {
  readonly #policy: WebhookPolicy;
  readonly #timeoutMs: number;
  readonly #max: number;
  readonly #lookup: LookupFunction;

  constructor(options: HttpWebhookSenderOptions) {
    this.#policy = options.policy;
    this.#timeoutMs = options.timeoutMs ?? 15_000;
    this.#max = options.maxResponseBytes ?? 65_536;
    const policy = this.#policy;
    this.#lookup = ((hostname: string, opts: object, callback: (e: Error | null, a: string | LookupAddress[], f?: number) => void) => {
      dnsLookup(hostname, { ...opts, all: true }, (error, addresses) => {
        if (error) return callback(error, []);
        const list = addresses as LookupAddress[];
        if (list.some((a) => isBlockedAddress(a.address, policy))) return callback(new Blocked('address blocked'), []);
        const all = (opts as { all?: boolean }).all;
        const first = list[0];
        if (all) callback(null, list);
        else callback(null, first?.address ?? '', first?.family ?? 4);
      });
    }) as LookupFunction;
  }

  send(request: WebhookRequest): Promise<WebhookResponse> {
    const started = Date.now();
    const done = (status: number | null, error: string | null): WebhookResponse =>
      ({ status, ok: error === null && status !== null && status >= 200 && status < 300, error, ms: Date.now() - started });
    return new Promise((resolve) => {
      let url: URL;
      try {
        url = new URL(request.url);
      } catch {
        resolve(done(null, 'invalid URL'));
        return;
      }
      const host = url.hostname.replace(/^\[|\]$/g, '');
      if (isIP(host) !== 0 && isBlockedAddress(host, this.#policy)) {
        resolve(done(null, 'address blocked (link-local or metadata)'));
        return;
      }
      const timestamp = Math.floor(Date.now() / 1000);
      const body = Buffer.from(request.body, 'utf8');
      const client = url.protocol === 'https:' ? https : http;
      let settled = false;
      const finish = (r: WebhookResponse): void => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        req.destroy();
        resolve(r);
      };
      const req = client.request(url, {
        method: 'POST',
        agent: false,
        lookup: this.#lookup,
        headers: {
          'content-type': 'application/json',
          'content-length': String(body.length),
          'user-agent': 'authstream-webhooks',
          'webhook-id': request.id,
          'webhook-timestamp': String(timestamp),
          'webhook-signature': signWebhook(request.secret, request.id, timestamp, request.body),
        },
      }, (res) => {
        const status = res.statusCode ?? null;
        let read = 0;
        res.on('data', (chunk: Buffer) => {
          read += chunk.length;
          if (read > this.#max) finish(outcome(status));
        });
        res.on('end', () => finish(outcome(status)));
        res.on('error', () => finish(outcome(status)));
      });
      const outcome = (status: number | null): WebhookResponse => {
        if (status !== null && status >= 300 && status < 400) return done(status, `redirect not followed (${status})`);
        if (status !== null && (status < 200 || status >= 300)) return done(status, `answered ${status}`);
        return done(status, null);
      };
      const timer = setTimeout(() => finish(done(null, `timed out after ${this.#timeoutMs} ms`)), this.#timeoutMs);
      req.on('error', (error: NodeJS.ErrnoException) => finish(done(null, describe(error))));
      req.end(body);
    });
  }
}

function describe(error: NodeJS.ErrnoException): string {
  if (error instanceof Blocked) return 'address blocked (link-local or metadata)';
  switch (error.code) {
    case 'ECONNREFUSED': return 'connection refused';
    case 'ENOTFOUND': case 'EAI_AGAIN': return 'host not found';
    case 'ECONNRESET': return 'connection reset';
    case 'ETIMEDOUT': return 'connection timed out';
    default: return /tls|ssl|cert/i.test(`${error.code ?? ''} ${error.message}`) ? 'tls error' : `network error (${error.code ?? error.name})`;
  }
}
