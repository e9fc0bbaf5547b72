/** `projections status` and `projections rebuild <name>`. */
import { loadConfig } from '../config.js';
import { readCheckpoint } from '../projections/engine/checkpoints.js';
import { allProjections, RebuildInProgressError } from '../projections/index.js';
import { openSql, openStore } from '../composition/runtime.js';
import { readReactors } from '../reactors/engine/reactorCheckpoints.js';
import { colours, table, type CliCommand } from './command.js';
import { CliError, guarded, withRuntime } from './context.js';

const projectionNames = (): string[] => allProjections().map((p) => p.name);

/** Events counted at most per status (like the runner's status()). */
const SCAN_LIMIT = 10_000;

interface Row {
  name: string;
  version: number;
  position: bigint;
  head: bigint;
  lag_events: number;
  lag_capped: boolean;
  lag_ms: number;
}

export const projectionsStatusCommand: CliCommand = {
  name: 'projections status',
  summary: 'Position and lag of every read model (from the stored checkpoints)',
  usage: `Usage: authstream projections status [--json]

Shows each SQL read model's checkpoint (the global position it has applied, as every
instance sees it), the head of the event store, how many events it is behind (counted up
to ${SCAN_LIMIT}; "+" when there are more) and how long the oldest of them has waited.
Then the reactors (reset mails, SMS, each webhook endpoint): checkpoint, whether an
instance holds it, and what it keeps failing on. Read-only: it opens the stores but runs
no projection. --json prints { "projections": [{ name, version, position, head,
lag_events, lag_capped, lag_ms }], "reactors": [{ name, position, held, failing }] } with
positions as strings.`,
  options: { json: { type: 'boolean' } },
  run: ({ values }, io) => guarded(io, 'projections status', async () => {
    const config = loadConfig(io.env);
    const sql = await openSql(config);
    try {
      const store = await openStore(config, sql);
      try {
        const head = await store.headPosition();
        const checkpoints: { name: string; version: number; position: bigint }[] = [];
        for (const name of projectionNames()) {
          let checkpoint;
          try {
            checkpoint = await readCheckpoint(sql, name);
          } catch {
            throw new CliError('no read models in this database yet (run `authstream migrate` or start the service)');
          }
          checkpoints.push({ name, version: checkpoint?.version ?? 0, position: checkpoint?.position ?? 0n });
        }
        const lowest = checkpoints.reduce((min, c) => (c.position < min ? c.position : min), head);
        const pending = lowest < head
          ? (await store.readAll({ after: lowest, maxCount: SCAN_LIMIT })).filter((e) => e.position <= head)
          : [];
        const capped = pending.length >= SCAN_LIMIT;
        const now = Date.now();
        const rows: Row[] = checkpoints.map((c) => {
          const behind = pending.filter((e) => e.position > c.position);
          const oldest = behind[0];
          return {
            ...c, head, lag_events: behind.length, lag_capped: capped && behind.length > 0,
            lag_ms: oldest ? Math.max(0, now - oldest.occurredAt.getTime()) : 0,
          };
        });
        // The reactors (mail, SMS, webhooks): their checkpoints, whether an instance holds them, what they are stuck on.
        const reactors = (await readReactors(sql, null).catch(() => [])).map((r) => ({
          name: r.name, position: r.position.toString(), held: r.leaseLive,
          failing: r.failing && { position: r.failing.position.toString(), attempts: r.failing.attempts, since: r.failing.since.toISOString(), reason: r.failing.reason },
        }));
        if (values.json) {
          io.out.write(`${JSON.stringify({
            projections: rows.map((r) => ({ ...r, position: r.position.toString(), head: r.head.toString() })),
            reactors,
          })}\n`);
          return 0;
        }
        const c = colours(io);
        const text = table(rows.map((r) => [
          r.name, String(r.version), r.position.toString(), r.head.toString(),
          `${r.lag_events}${r.lag_capped ? '+' : ''}`, String(r.lag_ms),
        ]), ['NAME', 'VERSION', 'POSITION', 'HEAD', 'LAG_EVENTS', 'LAG_MS']);
        const lines = text.trimEnd().split('\n');
        io.out.write(`${lines.map((line, i) => {
          if (i === 0) return c.bold(line);
          const row = rows[i - 2];
          if (!row) return c.dim(line);
          return row.lag_events === 0 ? line : c.yellow(line);
        }).join('\n')}\n`);
        if (reactors.length > 0) {
          io.out.write(`\n${table(reactors.map((r) => [
            r.name, r.position, r.held ? 'yes' : 'no', r.failing ? `${r.failing.attempts} attempts since ${r.failing.since}: ${r.failing.reason}` : '',
          ]), ['REACTOR', 'POSITION', 'HELD', 'FAILING'])}`);
        }
        return 0;
      } finally {
        await store.close();
      }
    } finally {
      await sql.close();
    }
  }),
};

export const projectionsRebuildCommand: CliCommand = {
  name: 'projections rebuild',
  summary: 'Rebuild one read model from the first event, with no downtime',
  usage: `Usage: authstream projections rebuild <name>

Replays every event into shadow tables, then swaps them in atomically: readers see the
old read model or the complete new one, never a half-built one, and running instances
go on serving. Progress goes to stderr. Only one rebuild of a projection runs at a time
(across instances); a second one is refused. Projections: ${projectionNames().join(', ')}.`,
  run: ({ positionals }, io) => guarded(io, 'projections rebuild', async () => {
    const [name, extra] = positionals;
    if (!name || extra !== undefined) throw new CliError(`give one projection name: ${projectionNames().join(', ')}`, 2);
    if (!projectionNames().includes(name)) {
      throw new CliError(`unknown projection "${name}"; the projections are ${projectionNames().join(', ')}`, 2);
    }
    return withRuntime(io, async (runtime) => {
      const started = Date.now();
      let events = 0;
      try {
        await runtime.projections.rebuild(name, (applied, position) => {
          events = applied;
          io.err.write(`rebuild ${name}: ${applied} events replayed (position ${position})\n`);
        });
      } catch (e) {
        if (e instanceof RebuildInProgressError) throw new CliError(`a rebuild of ${name} is already running; try again when it is done`);
        throw e;
      }
      io.out.write(`rebuilt ${name} from ${events} events in ${((Date.now() - started) / 1000).toFixed(1)} s\n`);
      return 0;
    });
  }),
};
