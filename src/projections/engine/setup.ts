/**
 * What the runner does before it subscribes: the checkpoint tables, each projection's live
 * tables and checkpoint row, a rebuild of every projection whose code version changed
 * (waiting while another instance rebuilds it), and the stored positions to start from.
 */
import type { Projection } from '../../ports/projections.js';
import type { Sql } from '../../ports/sql.js';
import { RebuildInProgressError, migrateProjections, readCheckpoint } from './checkpoints.js';
import type { RunnerLog } from './options.js';
import { prepareProjection } from './shadowTables.js';

export async function prepareAll(sql: Sql, projections: Iterable<Projection>): Promise<void> {
  await migrateProjections(sql);
  for (const projection of projections) await prepareProjection(sql, projection);
}

export async function rebuildOutdated(
  sql: Sql, projections: Iterable<Projection>, rebuild: (name: string) => Promise<void>,
  sleep: (ms: number) => Promise<unknown>, log: RunnerLog,
): Promise<void> {
  for (const p of projections) {
    for (;;) {
      const checkpoint = await readCheckpoint(sql, p.name);
      if (checkpoint?.version === p.version) break;
      try {
        log.info?.({ projection: p.name, from: checkpoint?.version, to: p.version }, 'rebuilding outdated projection');
        await rebuild(p.name);
        break;
      } catch (error) {
        if (!(error instanceof RebuildInProgressError)) throw error;
        await sleep(1000); // another instance rebuilds it: wait for its new version
      }
    }
  }
}

/** The stored checkpoint position of each name (0 when none). */
export async function storedPositions(sql: Sql, names: Iterable<string>): Promise<Map<string, bigint>> {
  const out = new Map<string, bigint>();
  for (const name of names) out.set(name, (await readCheckpoint(sql, name))?.position ?? 0n);
  return out;
}
