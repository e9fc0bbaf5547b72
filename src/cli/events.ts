/** `events tail`, `events read`, `events copy`: the event store from the console. */
import { createHash } from 'node:crypto';
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { loadConfig } from '../config.js';
import { copyEvents, fileCheckpoint } from '../eventstore/copy.js';
import type { EventStore } from '../ports/eventStore.js';
import { PostgresEventStore } from '../eventstore/postgres/store.js';
import { eventViews, type EventView } from '../infra/redact.js';
import { PgSql } from '../infra/sql/pg.js';
import { openSql, openStore } from '../composition/runtime.js';
import type { CliCommand } from './command.js';
import { CliError, guarded, openReader, stopSignal, stringOption, wholeNumber } from './context.js';
import { EventLines, eventTable, ndjson, type EventColumn } from './format.js';

const PAGE = 1000;
const TAIL_COLUMNS: EventColumn[] = ['position', 'time', 'type', 'stream', 'actor', 'data'];
const STREAM_COLUMNS: EventColumn[] = ['revision', 'position', 'time', 'type', 'actor', 'data'];

function typesOption(value: string | boolean | string[] | boolean[] | undefined): string[] {
  const text = stringOption(value);
  if (text === undefined) return [];
  return [...new Set(text.split(',').map((t) => t.trim()).filter((t) => t !== ''))];
}

export const eventsTailCommand: CliCommand = {
  name: 'events tail',
  summary: 'Print events in global order (redacted), optionally following new ones',
  usage: `Usage: authstream events tail [--from <position>|head] [--types A,B] [--limit N] [--follow] [--json]

Prints events in global order as the admin API shows them: personal data decrypted for
live users and null once erased; password and refresh-token hashes never.

  --from P      start after global position P (exclusive); "head": after the newest
                event. Default: the first event.
  --types A,B   only these event types (comma-separated)
  --limit N     print at most N events (default 100; no limit with --follow)
  --follow, -f  then keep printing new events as they are appended, until Ctrl-C
  --json        one JSON object per event per line (the admin API's event shape)

Without --follow, when more events remain, stderr says how to go on (--from <position>).`,
  options: {
    from: { type: 'string' },
    types: { type: 'string' },
    limit: { type: 'string' },
    follow: { type: 'boolean', short: 'f' },
    json: { type: 'boolean' },
  },
  run: ({ values }, io) => guarded(io, 'events tail', async () => {
    const types = typesOption(values.types);
    const limitOption = wholeNumber(values.limit, '--limit');
    if (limitOption === 0n) throw new CliError('--limit must be at least 1', 2);
    const follow = values.follow === true;
    const limit = limitOption === undefined ? (follow ? Infinity : 100) : Number(limitOption);
    const fromText = stringOption(values.from);
    const reader = await openReader(io.env);
    try {
      const { store, codec } = reader;
      let after = fromText === 'head' ? await store.headPosition() : wholeNumber(fromText, '--from');
      if (!follow) {
        const events: EventView[] = [];
        while (events.length < limit) {
          const want = Math.min(PAGE, limit - events.length);
          const raws = await store.readAll({ maxCount: want, types, ...(after === undefined ? {} : { after }) });
          events.push(...(await eventViews(codec, raws)));
          after = raws.at(-1)?.position ?? after;
          if (raws.length < want) break;
        }
        if (values.json) io.out.write(ndjson(events));
        else if (events.length > 0) io.out.write(eventTable(io, events, TAIL_COLUMNS));
        else io.err.write('no events\n');
        if (events.length === limit && after !== undefined && (await store.readAll({ after, maxCount: 1, types })).length > 0) {
          io.err.write(`more events follow: authstream events tail --from ${after}\n`);
        }
        return 0;
      }

      const lines = new EventLines(io, TAIL_COLUMNS);
      const stop = stopSignal(io);
      let printed = 0;
      let reachedLimit!: () => void;
      const limitReached = new Promise<void>((resolve) => {
        reachedLimit = resolve;
      });
      const subscription = store.subscribeToAll(async (raws) => {
        if (printed >= limit) return;
        const events = (await eventViews(codec, raws)).slice(0, limit - printed);
        printed += events.length;
        io.out.write(values.json ? ndjson(events) : lines.format(events));
        if (printed >= limit) reachedLimit();
      }, { types, batchSize: 500, ...(after === undefined ? {} : { after }) });
      const aborted = new Promise<void>((resolve) => {
        if (stop.signal.aborted) resolve();
        stop.signal.addEventListener('abort', () => resolve(), { once: true });
      });
      try {
        await Promise.race([subscription.done, aborted, limitReached]);
      } finally {
        stop.dispose();
        await subscription.stop();
      }
      return 0;
    } finally {
      await reader.close();
    }
  }),
};

export const eventsReadCommand: CliCommand = {
  name: 'events read',
  summary: 'Print the events of one stream (redacted)',
  usage: `Usage: authstream events read <stream> [--from <revision>] [--json]

Prints every event of a stream (user-<id>, session-<id>, identifier-<hash>,
logins-<hash>, settings) from revision --from (inclusive, default 0), as the admin API
shows them. --json prints one JSON object per event per line. Exits 1 when the stream
has no events.`,
  options: { from: { type: 'string' }, json: { type: 'boolean' } },
  run: ({ values, positionals }, io) => guarded(io, 'events read', async () => {
    const [stream, extra] = positionals;
    if (!stream || extra !== undefined) throw new CliError('give exactly one stream name (see --help)', 2);
    let from = wholeNumber(values.from, '--from') ?? 0n;
    const reader = await openReader(io.env);
    try {
      const events: EventView[] = [];
      for (;;) {
        const raws = await reader.store.readStream(stream, { fromRevision: from, maxCount: PAGE });
        events.push(...(await eventViews(reader.codec, raws)));
        const last = raws.at(-1);
        if (!last || raws.length < PAGE) break;
        from = last.revision + 1n;
      }
      if (events.length === 0) throw new CliError(`stream ${stream} has no events${values.from ? ` from revision ${values.from}` : ''}`);
      io.out.write(values.json ? ndjson(events) : eventTable(io, events, STREAM_COLUMNS));
      return 0;
    } finally {
      await reader.close();
    }
  }),
};

async function openTarget(kind: 'postgres' | 'eventstoredb', url: string): Promise<{ store: EventStore; close(): Promise<void> }> {
  if (kind === 'eventstoredb') {
    if (!/^(esdb|esdb\+discover|kurrentdb|kurrent):\/\//.test(url)) throw new CliError('--to-eventstoredb must be an esdb:// URL', 2);
    const { EventStoreDbEventStore } = await import('../eventstore/eventstoredb/store.js');
    const { redactConnectionString } = await import('../eventstore/eventstoredb/mapping.js');
    try {
      const store = await EventStoreDbEventStore.connect(url);
      return { store, close: () => store.close() };
    } catch (e) {
      throw new CliError(`cannot reach the target EventStoreDB at ${redactConnectionString(url)}: ${e instanceof Error ? e.message : String(e)}`);
    }
  }
  if (!/^postgres(ql)?:\/\//.test(url)) throw new CliError('--to-url must be a postgres:// URL', 2);
  const sql = new PgSql({ connectionString: url, max: 4 });
  try {
    await sql.query('select 1');
    const store = await PostgresEventStore.open(sql);
    return { store, close: async () => { await store.close(); await sql.close(); } };
  } catch (e) {
    await sql.close().catch(() => {});
    throw new CliError(`cannot open the target PostgreSQL at ${new URL(url).host}: ${e instanceof Error ? e.message : String(e)}`);
  }
}

export const eventsCopyCommand: CliCommand = {
  name: 'events copy',
  summary: 'Copy every event to another event store (PostgreSQL or EventStoreDB), resumably',
  usage: `Usage: authstream events copy (--to-url <postgres url> | --to-eventstoredb <esdb url>)
                              [--checkpoint <file>] [--batch-size N] [--json]

Copies every event of the configured event store (DATABASE_URL or EVENT_STORE /
EVENTSTORE_URL), in global order, to the target store: same streams, revisions, ids,
types, data (still encrypted) and metadata. Progress goes to stderr.

Resumable and idempotent: the source position reached is saved to the checkpoint file
after every batch (default DATA_DIR/events-copy-<hash of the target>.checkpoint); run it
again to go on, e.g. once more after stopping writes, before switching over. Events
already in the target are skipped; a different event in their place is an error.`,
  options: {
    'to-url': { type: 'string' },
    'to-eventstoredb': { type: 'string' },
    checkpoint: { type: 'string' },
    'batch-size': { type: 'string' },
    json: { type: 'boolean' },
  },
  run: ({ values }, io) => guarded(io, 'events copy', async () => {
    const toUrl = stringOption(values['to-url']);
    const toEsdb = stringOption(values['to-eventstoredb']);
    if ((toUrl === undefined) === (toEsdb === undefined)) throw new CliError('give one of --to-url or --to-eventstoredb', 2);
    const batch = wholeNumber(values['batch-size'], '--batch-size');
    if (batch !== undefined && (batch < 1n || batch > 10_000n)) throw new CliError('--batch-size must be from 1 to 10000', 2);
    const config = loadConfig(io.env);
    const targetUrl = toUrl ?? toEsdb ?? '';
    if ((toUrl !== undefined && config.eventStore === 'postgres' && toUrl === config.databaseUrl)
      || (toEsdb !== undefined && config.eventStore === 'eventstoredb' && toEsdb === config.eventStoreUrl)) {
      throw new CliError('the target is the configured event store itself', 2);
    }
    let checkpointPath = stringOption(values.checkpoint);
    if (checkpointPath === undefined) {
      mkdirSync(config.dataDir, { recursive: true });
      const id = createHash('sha256').update(targetUrl).digest('hex').slice(0, 12);
      checkpointPath = join(config.dataDir, `events-copy-${id}.checkpoint`);
    }
    const sql = await openSql(config);
    let source: EventStore | undefined;
    let target: { store: EventStore; close(): Promise<void> } | undefined;
    try {
      source = await openStore(config, sql);
      target = await openTarget(toUrl !== undefined ? 'postgres' : 'eventstoredb', targetUrl);
      const checkpoint = fileCheckpoint(checkpointPath);
      const start = await checkpoint.load();
      if (start !== undefined) io.err.write(`resuming after source position ${start} (${checkpointPath})\n`);
      let position = start;
      const result = await copyEvents(source, target.store, {
        checkpoint,
        ...(batch === undefined ? {} : { batchSize: Number(batch) }),
        onProgress: (copied, at) => {
          position = at;
          io.err.write(`copied ${copied} events (source position ${at})\n`);
        },
      });
      if (values.json) {
        io.out.write(`${JSON.stringify({ copied: result.copied, skipped: result.skipped, position: position?.toString() ?? null, checkpoint: checkpointPath })}\n`);
      } else {
        io.out.write(`copied ${result.copied} events, skipped ${result.skipped} already in the target; checkpoint ${checkpointPath}\n`);
      }
      return 0;
    } finally {
      await target?.close().catch(() => {});
      await source?.close().catch(() => {});
      await sql.close().catch(() => {});
    }
  }),
};
