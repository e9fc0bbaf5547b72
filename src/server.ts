/** Starts the service: configuration → runtime → app → listen, with a clean shutdown. */
import { ConfigError, loadConfig, type Config } from './config.js';
import { bootstrapAdmin } from './composition/bootstrapAdmin.js';
import { buildApp } from './http/app.js';
import { startupSummary } from './startupSummary.js';
import { createRuntime, type Runtime } from './composition/runtime.js';
import type { FastifyInstance } from 'fastify';

export interface Server {
  app: FastifyInstance;
  runtime: Runtime;
  url: string;
  close(): Promise<void>;
}

export async function startServer(config: Config): Promise<Server> {
  const runtime = await createRuntime(config, {
    log: {
      error: (obj, msg) => app?.log.error(obj, msg),
      warn: (obj, msg) => app?.log.warn(obj, msg),
      info: (obj, msg) => app?.log.info(obj, msg),
    },
  });
  let app: FastifyInstance | undefined;
  try {
    app = await buildApp(runtime);
    for (const notice of runtime.notices) app.log.warn(notice);
    let bootstrap: string | null = null;
    if (config.bootstrapAdminEmail && config.bootstrapAdminPassword) {
      const outcome = await bootstrapAdmin(runtime, config.bootstrapAdminEmail, config.bootstrapAdminPassword);
      bootstrap = `${config.bootstrapAdminEmail}: ${outcome}`;
    }
    const url = await app.listen({ port: config.port, host: config.host });
    app.log.info({ listening: url, ...startupSummary(config, bootstrap) }, `authstream is ready at ${config.publicUrl}`);
    const server = app;
    return {
      app: server, runtime, url,
      async close() {
        await server.close();
        await runtime.close();
      },
    };
  } catch (e) {
    await app?.close().catch(() => {});
    await runtime.close();
    throw e;
  }
}

/** The process entry: one clear line and exit code 1 for a bad configuration. */
export async function main(env: NodeJS.ProcessEnv = process.env): Promise<void> {
  try {
    const { config: loadDotenv } = await import('dotenv');
    loadDotenv({ quiet: true });
  } catch {
    // .env support is optional
  }
  let server: Server;
  try {
    server = await startServer(loadConfig(env));
  } catch (e) {
    if (e instanceof ConfigError) {
      process.stderr.write(`authstream: configuration error: ${e.message}\n`);
      process.exit(1);
    }
    const message = e instanceof Error ? e.message : String(e);
    process.stderr.write(`authstream: cannot start: ${message}\n`);
    process.exit(1);
  }
  let stopping = false;
  const stop = async (signal: string) => {
    if (stopping) return;
    stopping = true;
    server.app.log.info({ signal }, 'shutting down');
    await server.close().catch(() => {});
    process.exit(0);
  };
  process.on('SIGINT', () => void stop('SIGINT'));
  process.on('SIGTERM', () => void stop('SIGTERM'));
}
