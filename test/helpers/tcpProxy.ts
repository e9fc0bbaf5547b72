/**
 * A TCP proxy in the test process, between a service and a real server: `cut()` destroys
 * every open connection and refuses new ones (the server seems gone), `restore()` lets
 * them through again. Simulates an outage without touching the shared server.
 */
import net from 'node:net';
import type { Test } from 'tap';

export interface TcpProxy {
  port: number;
  cut(): void;
  restore(): void;
  readonly connections: number;
}

export async function startTcpProxy(t: Test, target: { host: string; port: number }): Promise<TcpProxy> {
  let open = true;
  const pairs = new Set<net.Socket>();
  const server = net.createServer((client) => {
    if (!open) {
      client.destroy();
      return;
    }
    const upstream = net.connect(target.port, target.host);
    pairs.add(client);
    pairs.add(upstream);
    const close = () => {
      client.destroy();
      upstream.destroy();
      pairs.delete(client);
      pairs.delete(upstream);
    };
    client.on('error', close).on('close', close);
    upstream.on('error', close).on('close', close);
    client.pipe(upstream);
    upstream.pipe(client);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  t.teardown(() => new Promise<void>((resolve) => {
    for (const s of pairs) s.destroy();
    server.close(() => resolve());
  }));
  return {
    port: (server.address() as net.AddressInfo).port,
    cut() {
      open = false;
      for (const s of pairs) s.destroy();
      pairs.clear();
    },
    restore() {
      open = true;
    },
    get connections() {
      return pairs.size / 2;
    },
  };
}
