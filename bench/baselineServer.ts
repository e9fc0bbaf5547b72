/**
 * The baseline: a bare Fastify server with one JSON route and nothing else (no logger, no
 * plugins), run as a child process of the suite on the same machine. Prints its URL on
 * the first line of stdout; stops on SIGTERM.
 */
import Fastify from 'fastify';

const app = Fastify({ logger: false });
app.get('/', async () => ({ hello: 'world' }));

const url = await app.listen({ port: 0, host: '127.0.0.1' });
process.stdout.write(`${url}\n`);

const stop = (): void => {
  void app.close().then(() => process.exit(0));
};
process.on('SIGTERM', stop);
process.on('SIGINT', stop);
