/**
 * Real receivers in the test process: an SMTP server (smtp-server + mailparser) and an HTTP
 * SMS sink, both on 127.0.0.1 and closed on teardown, plus `linkIn` / `codeIn` to read a
 * token out of a delivered message the way a user would.
 */
import { once } from 'node:events';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { simpleParser } from 'mailparser';
import { SMTPServer } from 'smtp-server';
import type { Test } from 'tap';

export interface MailboxMessage {
  /** Envelope recipients (RCPT TO). */
  to: string[];
  subject: string;
  text: string;
  html: string;
  /** Lower-case header name → unfolded value (the last one when repeated). */
  headers: Record<string, string>;
}

export interface Mailbox {
  url: string;
  port: number;
  messages: MailboxMessage[];
  waitFor(predicate: (m: MailboxMessage) => boolean, timeoutMs?: number): Promise<MailboxMessage>;
  /** Stops listening and drops every open connection (the server is gone). */
  stop(): Promise<void>;
  /** Listens again on the same port. */
  start(): Promise<void>;
  /** The next n messages are refused at RCPT TO with this SMTP reply code. */
  reject(n: number, code: number): void;
}

interface Waiter<M> {
  predicate: (m: M) => boolean;
  resolve: (m: M) => void;
}

/** Messages plus waiters on them: the part both receivers share. */
function inbox<M>(what: string) {
  const messages: M[] = [];
  const waiters = new Set<Waiter<M>>();
  return {
    messages,
    add(m: M) {
      messages.push(m);
      for (const w of waiters) if (w.predicate(m)) w.resolve(m);
    },
    waitFor(predicate: (m: M) => boolean, timeoutMs = 10_000): Promise<M> {
      const found = messages.find(predicate);
      if (found) return Promise.resolve(found);
      return new Promise<M>((resolve, reject) => {
        const w: Waiter<M> = { predicate, resolve: (m) => { clearTimeout(timer); waiters.delete(w); resolve(m); } };
        const timer = setTimeout(() => {
          waiters.delete(w);
          reject(new Error(`no matching ${what} within ${timeoutMs} ms (${messages.length} received)`));
        }, timeoutMs);
        waiters.add(w);
      });
    },
  };
}

export async function startMailbox(t: Test, options: { user?: string; pass?: string } = {}): Promise<Mailbox> {
  const box = inbox<MailboxMessage>('mail');
  const rejections: number[] = [];
  const create = () => new SMTPServer({
    secure: false,
    disabledCommands: ['STARTTLS'],
    authOptional: options.user === undefined,
    allowInsecureAuth: true,
    logger: false,
    closeTimeout: 50,
    onAuth(auth, _session, callback) {
      if (options.user !== undefined && (auth.username !== options.user || auth.password !== options.pass)) {
        callback(Object.assign(new Error('authentication failed'), { responseCode: 535 }));
        return;
      }
      callback(null, { user: auth.username ?? 'anyone' });
    },
    onRcptTo(_address, _session, callback) {
      const code = rejections.shift();
      callback(code === undefined ? null : Object.assign(new Error('refused by the test'), { responseCode: code }));
    },
    onData(stream, session, callback) {
      simpleParser(stream).then((mail) => {
        const headers: Record<string, string> = {};
        for (const { key, line } of mail.headerLines) headers[key.toLowerCase()] = line.slice(line.indexOf(':') + 1).replace(/\r?\n[ \t]+/g, ' ').trim();
        box.add({
          to: session.envelope.rcptTo.map((a) => a.address),
          subject: mail.subject ?? '',
          text: mail.text ?? '',
          html: mail.html || '',
          headers,
        });
        callback();
      }, (err: unknown) => callback(err instanceof Error ? err : new Error('unparsable message')));
    },
  });

  let server: SMTPServer | undefined;
  let port = 0;
  const start = async () => {
    if (server) return;
    const s = create();
    s.on('error', () => {}); // a client that hangs up mid-session is not a test failure
    const listening = s.listen(port, '127.0.0.1');
    await once(listening, 'listening');
    port = (listening.address() as AddressInfo).port;
    server = s;
  };
  const stop = async () => {
    const s = server;
    if (!s) return;
    server = undefined;
    await Promise.all([once(s.server, 'close'), new Promise<void>((resolve) => s.close(() => resolve()))]);
  };
  await start();
  t.teardown(stop);
  return {
    url: `smtp://127.0.0.1:${port}`,
    port,
    messages: box.messages,
    waitFor: box.waitFor,
    stop,
    start,
    reject(n, code) {
      for (let i = 0; i < n; i++) rejections.push(code);
    },
  };
}

export interface SmsSinkMessage {
  to: string;
  body: string;
  headers: http.IncomingHttpHeaders;
}

export interface SmsSink {
  url: string;
  messages: SmsSinkMessage[];
  /** The next n requests are answered with this status (and not kept). */
  failNext(n: number, status: number): void;
  waitFor(predicate: (m: SmsSinkMessage) => boolean, timeoutMs?: number): Promise<SmsSinkMessage>;
}

export async function startSmsSink(t: Test): Promise<SmsSink> {
  const box = inbox<SmsSinkMessage>('sms');
  const failures: number[] = [];
  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const status = failures.shift();
      if (status !== undefined) {
        res.writeHead(status).end();
        return;
      }
      let parsed: unknown;
      try {
        parsed = JSON.parse(Buffer.concat(chunks).toString('utf8'));
      } catch {
        parsed = undefined;
      }
      if (req.method !== 'POST' || typeof parsed !== 'object' || parsed === null
        || !('to' in parsed) || typeof parsed.to !== 'string' || !('body' in parsed) || typeof parsed.body !== 'string') {
        res.writeHead(400).end();
        return;
      }
      box.add({ to: parsed.to, body: parsed.body, headers: req.headers });
      res.writeHead(202, { 'content-type': 'application/json' }).end('{"queued":true}');
    });
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  t.teardown(() => new Promise<void>((resolve) => {
    server.closeAllConnections();
    server.close(() => resolve());
  }));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/sms`,
    messages: box.messages,
    failNext(n, status) {
      for (let i = 0; i < n; i++) failures.push(status);
    },
    waitFor: box.waitFor,
  };
}

/** The first link in `text` that starts with `base`, up to the next white space. */
export function linkIn(text: string, base: string): string | null {
  const escaped = base.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
  return new RegExp(`${escaped}\\S*`).exec(text)?.[0] ?? null;
}

/** The first group of exactly six digits in `text`. */
export function codeIn(text: string): string | null {
  return /(?<!\d)\d{6}(?!\d)/.exec(text)?.[0] ?? null;
}
