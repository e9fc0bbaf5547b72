/**
 * A minimal webhook receiver for authstream: verifies each delivery with the Standard
 * Webhooks library (the same check any of its language ports makes), answers 204 for a
 * valid one and 400 otherwise, and ignores a delivery it has seen (`webhook-id` is the
 * event id, the same on every retry and replay).
 *
 *   npm run build
 *   WEBHOOK_SECRET=whsec_… PORT=4000 node dist/examples/webhook-receiver.js
 *
 * Then subscribe it (it must be reachable by the service; http only to loopback with
 * WEBHOOKS_ALLOW_HTTP=true):
 *
 *   curl -X POST $B/v1/admin/webhooks -H "authorization: Bearer $ADMIN" -H 'content-type: application/json' \
 *     -d '{"url":"http://127.0.0.1:4000/hooks","event_types":["*"]}'
 *
 * In your own project: `npm install standardwebhooks`. A real receiver keeps the seen ids
 * in its database, in the same transaction as what it does with the event.
 */
import http from 'node:http';
import { Webhook } from 'standardwebhooks';

const secret = process.env.WEBHOOK_SECRET;
if (!secret) throw new Error('set WEBHOOK_SECRET (the whsec_… shown when the webhook was created)');
const verifier = new Webhook(secret);
const seen = new Set<string>();

http.createServer((req, res) => {
  const chunks: Buffer[] = [];
  req.on('data', (c: Buffer) => chunks.push(c));
  req.on('end', () => {
    const body = Buffer.concat(chunks).toString('utf8');
    const header = (name: string): string => String(req.headers[name] ?? '');
    let event: { type: string; data: { position: string } };
    try {
      event = verifier.verify(body, {
        'webhook-id': header('webhook-id'), 'webhook-timestamp': header('webhook-timestamp'), 'webhook-signature': header('webhook-signature'),
      }) as typeof event;
    } catch {
      res.writeHead(400).end();
      return;
    }
    const id = header('webhook-id');
    if (!seen.has(id)) {
      seen.add(id);
      console.log(`${event.data.position} ${event.type} (${id})`);
    }
    res.writeHead(204).end();
  });
}).listen(Number(process.env.PORT ?? 4000), () => console.log(`listening on ${process.env.PORT ?? 4000}`));
