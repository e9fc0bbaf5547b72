/** Every CLI command, in the order `--help` lists them. */
import type { CliCommand } from './command.js';
import { migrateCommand, serveCommand } from './serve.js';
import { keysRotateCommand } from './keys.js';
import { adminCreateCommand } from './admin.js';
import { importDjangoCommand, importJsonlCommand } from './import.js';
import { eventsCopyCommand, eventsReadCommand, eventsTailCommand } from './events.js';
import { projectionsRebuildCommand, projectionsStatusCommand } from './projections.js';
import {
  webhooksCreateCommand, webhooksDeleteCommand, webhooksDisableCommand, webhooksEnableCommand, webhooksListCommand,
} from './webhooks.js';

export function commands(): CliCommand[] {
  return [
    serveCommand, migrateCommand, keysRotateCommand,
    adminCreateCommand, importDjangoCommand, importJsonlCommand,
    eventsTailCommand, eventsReadCommand, eventsCopyCommand,
    projectionsStatusCommand, projectionsRebuildCommand,
    webhooksListCommand, webhooksCreateCommand, webhooksDisableCommand, webhooksEnableCommand, webhooksDeleteCommand,
  ];
}
