/** `serve` and `migrate`. */
import { ConfigError, loadConfig } from '../config.js';
import { createRuntime } from '../composition/runtime.js';
import { main } from '../server.js';
import type { CliCommand } from './command.js';

export const serveCommand: CliCommand = {
  name: 'serve',
  summary: 'Run the HTTP service (the same as npm start)',
  usage: `Usage: authstream serve

Runs the service on PORT (default 3000). With no DATABASE_URL it runs on an embedded
PostgreSQL (PGlite) in DATA_DIR (default ./data).`,
  async run(_args, io) {
    await main(io.env);
    return new Promise<number>(() => {}); // runs until a signal stops the process
  },
};

export const migrateCommand: CliCommand = {
  name: 'migrate',
  summary: 'Create or upgrade the database schema (event store, keys, read models) and exit',
  usage: `Usage: authstream migrate [--json]

Applies every pending migration, creates missing read models and rebuilds any whose
version changed. The service does the same at start; this lets you do it ahead of time.`,
  options: { json: { type: 'boolean' } },
  async run(args, io) {
    let runtime;
    try {
      runtime = await createRuntime(loadConfig(io.env), { reactors: false });
    } catch (e) {
      io.err.write(`authstream migrate: ${e instanceof ConfigError ? `configuration error: ${e.message}` : e instanceof Error ? e.message : String(e)}\n`);
      return 1;
    }
    const positions = Object.fromEntries([...runtime.projections.positions()].map(([k, v]) => [k, v.toString()]));
    await runtime.close();
    io.out.write(args.values.json ? `${JSON.stringify({ ok: true, projections: positions })}\n` : 'migrations applied\n');
    return 0;
  },
};
