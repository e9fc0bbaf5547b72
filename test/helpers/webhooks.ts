/**
 * Webhook receivers in the test process (real HTTP servers on 127.0.0.1) that verify every
 * delivery with the Standard Webhooks reference implementation, and a service whose
 * reactors run, with an admin.
 */
import http from 'node:http';
import { once } from 'node:events';
import type { AddressInfo } from 'node:net';
import type { Test } from 'tap';
import { Webhook } from 'standardwebhooks';
import { createAndLogin, fastHasher, type Tokens } from './admin.js';
import { buildTestApp, json, type TestApp } from './app.js';
import type { TestDatabase } from './db.js';

export interface Received {
  id: string;
  timestamp: string;
  type: string;
  body: { type: string; timestamp: string; data: { id: string; position: string; type: string; data: Record<string, unknown> } };
  /** Whether the Standard Webhooks library accepted the signature. */
  verified: boolean;
}

export interface Receiver {
  url: string;
  received: Received[];
  /** Answer every request with this status (503: down) until set back to 204. */
  status: number;
  secret: string | null;
  until(predicate: (received: Received[]) => boolean, timeoutMs?: number): Promise<void>;
}

export async function startReceiver(t: Test): Promise<Receiver> {
  const r: Receiver = {
    url: '', received: [], status: 204, secret: null,
    async until(predicate, timeoutMs = 15_000) {
      const deadline = Date.now() + timeoutMs;
      while (!predicate(r.received)) {
        if (Date.now() > deadline) throw new Error(`receiver: condition not met in ${timeoutMs} ms (${r.received.length} received)`);
        await new Promise((resolve) => setTimeout(resolve, 20));
      }
    },
  };
  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      if (r.status >= 300) {
        res.writeHead(r.status).end();
        return;
      }
      const payload = Buffer.concat(chunks).toString('utf8');
      const headers = {
        'webhook-id': String(req.headers['webhook-id']),
        'webhook-timestamp': String(req.headers['webhook-timestamp']),
        'webhook-signature': String(req.headers['webhook-signature']),
      };
      let verified = false;
      try {
        if (r.secret) new Webhook(r.secret).verify(payload, headers);
        verified = r.secret !== null;
      } catch {
        verified = false;
      }
      const body = JSON.parse(payload) as Received['body'];
      r.received.push({ id: headers['webhook-id'], timestamp: headers['webhook-timestamp'], type: body.type, body, verified });
      res.writeHead(r.status).end();
    });
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  t.teardown(() => new Promise<void>((resolve) => {
    server.closeAllConnections();
    server.close(() => resolve());
  }));
  r.url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/hook`;
  return r;
}

export interface WebhookApp extends TestApp {
  admin: Tokens;
  auth: { authorization: string };
}

/** A service with its reactors running, http webhooks to loopback allowed, quick retries. */
export async function buildWebhookApp(t: Test, env: Record<string, string> = {}, db?: TestDatabase): Promise<WebhookApp> {
  const built = await buildTestApp(t, {
    WEBHOOKS_ALLOW_HTTP: 'true', WEBHOOK_RETRY_MAX_SECONDS: '1', REGISTER_RATE_PER_IP_PER_MINUTE: '100000', ...env,
  }, { hasher: fastHasher, reactors: true, ...(db ? { db } : {}) });
  const admin = await createAndLogin(built.app, built.runtime, `admin-${Math.random().toString(36).slice(2, 10)}@example.com`, ['user', 'admin']);
  return { ...built, admin, auth: { authorization: `Bearer ${admin.access_token}` } };
}

export interface CreatedHook {
  id: string;
  secret: string;
  status: string;
}

export async function subscribe(a: WebhookApp, receiver: Receiver, eventTypes: string[]): Promise<CreatedHook> {
  const res = await a.app.inject({ method: 'POST', url: '/v1/admin/webhooks', headers: a.auth, payload: { url: receiver.url, event_types: eventTypes } });
  if (res.statusCode !== 201) throw new Error(`subscribe: ${res.statusCode} ${res.body}`);
  const created = json<CreatedHook>(res);
  receiver.secret = created.secret;
  return created;
}
