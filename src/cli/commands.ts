/** Every CLI command, in the order `--help` lists them. */
import type { CliCommand } from './command.js';
import { migrateCommand, serveCommand } from './serve.js';

export function commands(): CliCommand[] {
  return [serveCommand, migrateCommand];
}
