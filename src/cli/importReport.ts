/**
 * What `import` shows while it runs and when it ends: a progress line on stderr (redrawn
 * in place on a terminal, one line every few seconds otherwise), a summary (text or
 * JSON), and the refused records in a JSON Lines report file for the operator to fix.
 */
import { createWriteStream, type WriteStream } from 'node:fs';
import type { ImportResult, ImportSummary } from '../commands/import/run.js';
import type { CliIo } from './command.js';

const number = (n: number): string => n.toLocaleString('en-US');

export class Progress {
  readonly #io: CliIo;
  readonly #total: number | null;
  readonly #started = Date.now();
  readonly #tty: boolean;
  #lastLine = 0;

  constructor(io: CliIo, total: number | null) {
    this.#io = io;
    this.#total = total;
    this.#tty = Boolean((io.err as { isTTY?: boolean }).isTTY);
  }

  update(s: ImportSummary): void {
    const now = Date.now();
    if (!this.#tty && now - this.#lastLine < 5000) return;
    this.#lastLine = now;
    this.#io.err.write(`${this.#tty ? '\r\u001b[2K' : ''}${this.line(s)}${this.#tty ? '' : '\n'}`);
  }

  line(s: ImportSummary): string {
    const seconds = Math.max((Date.now() - this.#started) / 1000, 0.001);
    const done = this.#total ? `${number(s.read)}/${number(this.#total)} (${Math.floor((100 * s.read) / Math.max(this.#total, 1))}%)` : number(s.read);
    const bar = this.#total && this.#tty ? `${barOf(s.read / this.#total)} ` : '';
    return `${bar}${done}  ${number(Math.round(s.read / seconds))}/s  imported ${number(s.imported)}, duplicate ${number(s.duplicate)}, refused ${number(s.refused)}`;
  }

  end(): void {
    if (this.#tty) this.#io.err.write('\n');
  }

  get seconds(): number {
    return (Date.now() - this.#started) / 1000;
  }
}

function barOf(fraction: number): string {
  const width = 24;
  const full = Math.round(Math.min(Math.max(fraction, 0), 1) * width);
  return `[${'#'.repeat(full)}${'.'.repeat(width - full)}]`;
}

/** The refused records, one JSON object a line: { index, source_id, reason, detail }. */
export class RefusalReport {
  readonly #file: WriteStream | null;
  readonly samples: Array<{ index: number; source_id: string | null; reason: string; detail: string }> = [];

  constructor(path: string | undefined) {
    this.#file = path === undefined ? null : createWriteStream(path, { flags: 'w', mode: 0o600 });
  }

  add(r: ImportResult): void {
    if (r.result.outcome !== 'refused') return;
    const entry = { index: r.index, source_id: r.sourceId, reason: r.result.reason, detail: r.result.detail };
    if (this.samples.length < 20) this.samples.push(entry);
    this.#file?.write(`${JSON.stringify(entry)}\n`);
  }

  async close(): Promise<void> {
    const file = this.#file;
    if (file) await new Promise<void>((resolve, reject) => file.end((e?: Error | null) => (e ? reject(e) : resolve())));
  }
}

export function printSummary(io: CliIo, s: ImportSummary, report: RefusalReport, options: { json: boolean; dryRun: boolean; seconds: number }): void {
  if (options.json) {
    io.out.write(`${JSON.stringify({ dry_run: options.dryRun, ...s, seconds: Number(options.seconds.toFixed(1)), refused_samples: report.samples })}\n`);
    return;
  }
  const verb = options.dryRun ? 'would import' : 'imported';
  const lines = [
    `${options.dryRun ? 'dry run: nothing was written. ' : ''}read ${number(s.read)} in ${options.seconds.toFixed(1)} s`,
    `  ${verb.padEnd(12)} ${number(s.imported)}`,
    `  ${'duplicate'.padEnd(12)} ${number(s.duplicate)}  (already imported: skipped)`,
    `  ${'refused'.padEnd(12)} ${number(s.refused)}`,
    ...Object.entries(s.reasons).map(([reason, n]) => `    ${reason.padEnd(18)} ${number(n ?? 0)}`),
    ...report.samples.slice(0, 10).map((r) => `    #${r.index} (id ${r.source_id ?? '?'}): ${r.reason}: ${r.detail}`),
  ];
  io.out.write(`${lines.join('\n')}\n`);
}
