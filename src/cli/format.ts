/**
 * How the CLI prints events: aligned tables for people (colour on a terminal only), one
 * JSON object per line for scripts. Events are the redacted views of src/infra/redact.ts,
 * the same as the admin API shows.
 */
import type { EventView } from '../infra/redact.js';
import { colours, table, type CliIo } from './command.js';

/** Events worth a second look in a listing. */
const ALARMING = new Set(['LoginFailed', 'RefreshTokenReuseDetected', 'UserDisabled', 'UserErased']);

const compact = (data: EventView['data']): string => {
  const text = JSON.stringify(data);
  return text === '{}' ? '' : text;
};

export type EventColumn = 'position' | 'revision' | 'time' | 'type' | 'stream' | 'actor' | 'data';

const HEADERS: Record<EventColumn, string> = {
  position: 'POSITION', revision: 'REV', time: 'OCCURRED_AT', type: 'TYPE', stream: 'STREAM', actor: 'ACTOR', data: 'DATA',
};

function cell(e: EventView, column: EventColumn): string {
  switch (column) {
    case 'position': return e.position;
    case 'revision': return e.revision;
    case 'time': return e.occurred_at;
    case 'type': return e.type;
    case 'stream': return e.stream_id;
    case 'actor': return e.metadata.actor_id ?? '-';
    case 'data': return compact(e.data);
  }
}

/** Colours whole lines (after alignment, so widths are not thrown off). */
function paint(io: CliIo, lines: string[], events: readonly EventView[], withHeader: boolean): string {
  const c = colours(io);
  return lines.map((line, i) => {
    if (withHeader && i < 2) return i === 0 ? c.bold(line) : c.dim(line);
    const event = events[withHeader ? i - 2 : i];
    return event && ALARMING.has(event.type) ? c.yellow(line) : line;
  }).join('\n');
}

/** An aligned table of events. */
export function eventTable(io: CliIo, events: readonly EventView[], columns: readonly EventColumn[]): string {
  const text = table(events.map((e) => columns.map((col) => cell(e, col))), columns.map((col) => HEADERS[col]));
  return `${paint(io, text.trimEnd().split('\n'), events, true)}\n`;
}

/**
 * Rows printed as they come (--follow): fixed column widths that grow when a value needs
 * more, the header once.
 */
export class EventLines {
  readonly #io: CliIo;
  readonly #columns: readonly EventColumn[];
  readonly #widths: number[];
  #headerShown = false;

  constructor(io: CliIo, columns: readonly EventColumn[]) {
    this.#io = io;
    this.#columns = columns;
    const initial: Record<EventColumn, number> = { position: 12, revision: 3, time: 24, type: 25, stream: 44, actor: 36, data: 0 };
    this.#widths = columns.map((col) => Math.max(initial[col], HEADERS[col].length));
  }

  format(events: readonly EventView[]): string {
    const rows = events.map((e) => this.#columns.map((col) => cell(e, col)));
    for (const row of rows) row.forEach((value, i) => {
      if (i < this.#columns.length - 1) this.#widths[i] = Math.max(this.#widths[i] ?? 0, [...value].length);
    });
    const line = (r: readonly string[]) => r.map((v, i) => v.padEnd(this.#widths[i] ?? 0)).join('  ').trimEnd();
    const lines: string[] = [];
    const withHeader = !this.#headerShown;
    if (withHeader) {
      this.#headerShown = true;
      lines.push(line(this.#columns.map((col) => HEADERS[col])), line(this.#widths.map((w) => '-'.repeat(w))));
    }
    lines.push(...rows.map(line));
    return lines.length === 0 ? '' : `${paint(this.#io, lines, events, withHeader)}\n`;
  }
}

/** One event per line, as JSON (the admin API's shape). */
export const ndjson = (events: readonly EventView[]): string => events.map((e) => `${JSON.stringify(e)}\n`).join('');
