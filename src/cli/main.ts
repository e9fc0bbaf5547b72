/**
 * `authstream <command> …` — the operator's CLI. Every command takes --help; most take
 * --json for scripts. Configuration comes from the environment, as for the service.
 */
import { parseArgs } from 'node:util';
import type { CliCommand, CliIo } from './command.js';
import { commands } from './commands.js';

function help(list: readonly CliCommand[]): string {
  const width = Math.max(...list.map((c) => c.name.length));
  return [
    'Usage: authstream <command> [options]',
    '',
    'Commands:',
    ...list.map((c) => `  ${c.name.padEnd(width)}  ${c.summary}`),
    '',
    'Run `authstream <command> --help` for a command\'s options. Configuration is read from',
    'the environment (and .env): DATABASE_URL, EVENT_STORE, EVENTSTORE_URL, MASTER_KEY, …',
    '',
  ].join('\n');
}

export async function runCli(argv: string[], io: CliIo): Promise<number> {
  const list = commands();
  const words = argv.filter((a) => !a.startsWith('-'));
  const command = list.find((c) => {
    const parts = c.name.split(' ');
    return parts.every((p, i) => words[i] === p);
  });
  if (!command) {
    if (argv.length === 0 || argv.includes('--help') || argv.includes('-h')) {
      io.out.write(help(list));
      return 0;
    }
    io.err.write(`authstream: unknown command "${words.slice(0, 2).join(' ')}"\n\n${help(list)}`);
    return 2;
  }
  const rest = [...argv];
  for (const part of command.name.split(' ')) rest.splice(rest.indexOf(part), 1);
  if (rest.includes('--help') || rest.includes('-h')) {
    io.out.write(`${command.usage.trim()}\n`);
    return 0;
  }
  let parsed;
  try {
    parsed = parseArgs({ args: rest, options: command.options ?? {}, allowPositionals: true, strict: true });
  } catch (e) {
    io.err.write(`authstream ${command.name}: ${e instanceof Error ? e.message : String(e)}\n\n${command.usage.trim()}\n`);
    return 2;
  }
  return command.run({ values: parsed.values as Record<string, string | boolean | undefined>, positionals: parsed.positionals }, io);
}
