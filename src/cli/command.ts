/**
 * The CLI's command shape. Each command is one module: its name (one or two words), a
 * summary, a usage text for --help, its options (node:util parseArgs), and `run`.
 */
import type { ParseArgsConfig } from 'node:util';

export interface CliIo {
  out: NodeJS.WritableStream & { isTTY?: boolean };
  err: NodeJS.WritableStream;
  env: NodeJS.ProcessEnv;
  /** Ends long-running commands (`events tail --follow`); without it, SIGINT or SIGTERM does. */
  signal?: AbortSignal;
}

export interface CliCommand {
  /** e.g. 'serve', 'keys rotate'. */
  name: string;
  summary: string;
  usage: string;
  options?: ParseArgsConfig['options'];
  /** Resolves to the exit code. */
  run(args: { values: Record<string, string | boolean | string[] | boolean[] | undefined>; positionals: string[] }, io: CliIo): Promise<number>;
}

/** Colour only when writing to a terminal (and NO_COLOR is unset). */
export function colours(io: CliIo) {
  const on = Boolean(io.out.isTTY) && !io.env.NO_COLOR;
  const wrap = (code: number) => (s: string) => (on ? `\u001b[${code}m${s}\u001b[0m` : s);
  return { bold: wrap(1), dim: wrap(2), red: wrap(31), green: wrap(32), yellow: wrap(33), cyan: wrap(36) };
}

/** Aligned plain-text table. */
export function table(rows: readonly (readonly string[])[], header: readonly string[]): string {
  const all = [header, ...rows];
  const widths = header.map((_, i) => Math.max(...all.map((r) => [...(r[i] ?? '')].length)));
  const line = (r: readonly string[]) => r.map((c, i) => c.padEnd(widths[i] ?? 0)).join('  ').trimEnd();
  return [line(header), line(widths.map((w) => '-'.repeat(w))), ...rows.map(line)].join('\n') + '\n';
}
