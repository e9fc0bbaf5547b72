/**
 * ZERO-DOWNTIME REBUILD
 *
 * A rebuild replays every event into shadow tables (`<table>__rebuild`) with the same
 * setup and apply code (unlogged and without their secondary indexes while replaying;
 * indexes rebuilt and the tables logged again before the swap), then, in one transaction
 * holding the checkpoint row and an ACCESS EXCLUSIVE lock on the live tables, renames
 * live → `<table>__old`, shadow → live, drops the old tables and sets the checkpoint.
 * Readers that refer to tables by name see the complete old table or the complete new one
 * (a reader blocked on the lock re-resolves the name once it gets it). Only one rebuild of
 * a projection runs at a time (a lease in `authstream.projection_rebuilds`). The replay of
 * one projection reads only its `types` (when declared), `batchSize` events per
 * transaction, reading and decoding the next page while the current one is applied; a
 * rebuild of several replays them in one pass over the whole log, applying each page to
 * the projections side by side.
 */
import { randomUUID } from 'node:crypto';
import type { EventStore } from '../../ports/eventStore.js';
import type { Decoded, EventDecoder } from '../../ports/events.js';
import type { Projection } from '../../ports/projections.js';
import type { Sql, SqlExecutor } from '../../ports/sql.js';
import {
  claimRebuildLease, lockCheckpoint, releaseRebuildLease, renewRebuildLease, saveCheckpoint,
} from './checkpoints.js';
import { dropTables, lightenShadows, restoreShadows, swapTable } from './shadowTables.js';
import { liveTable, shadowTable } from './tables.js';

export type RebuildProgress = (applied: number, position: bigint) => void;

export interface RebuilderOptions {
  sql: Sql;
  store: EventStore;
  codec: EventDecoder;
  /** Events per transaction while replaying. */
  batchSize: number;
  /** A rebuild lease not renewed for this long may be taken over. */
  leaseStaleMs: number;
  /** Called once a projection's shadow is swapped in, with the position it is complete up to. */
  swapped(projection: Projection, position: bigint, applied: number): void;
  log: { error(obj: Record<string, unknown>, msg: string): void };
}

interface Progress {
  applied: number;
  report: RebuildProgress | undefined;
}

interface Page {
  events: Decoded[];
  /** Stored events read (decoded or not). */
  count: number;
  full: boolean;
  reached: bigint;
}

const maxOf = (a: bigint, b: bigint): bigint => (a > b ? a : b);

export class Rebuilder {
  readonly #o: RebuilderOptions;

  constructor(options: RebuilderOptions) {
    this.#o = options;
  }

  /** Rebuilds `projections` in one replay, then swaps each in. Throws RebuildInProgressError when a lease is held. */
  async rebuild(projections: readonly Projection[], onProgress?: RebuildProgress): Promise<void> {
    const { sql } = this.#o;
    const owner = randomUUID();
    const progress: Progress = { applied: 0, report: onProgress };
    const claimed: Projection[] = [];
    try {
      for (const p of projections) {
        await claimRebuildLease(sql, p.name, owner, this.#o.leaseStaleMs);
        claimed.push(p);
      }
      await sql.transaction(async (tx) => {
        for (const p of projections) {
          await renewRebuildLease(tx, p.name, owner);
          await dropTables(tx, p.tables.map(shadowTable));
          await p.setup(tx, shadowTable);
        }
      });
      const shadows = projections.flatMap((p) => p.tables.map(shadowTable));
      const deferred = await sql.transaction((tx) => lightenShadows(tx, shadows));
      const replayed = await this.#replay(projections, owner, 0n, undefined, progress);
      await sql.transaction((tx) => restoreShadows(tx, shadows, deferred));
      for (const p of projections) await this.#swapIn(p, owner, replayed, progress);
    } catch (error) {
      for (const p of claimed) await this.#abandon(p, owner);
      throw error;
    }
  }

  /** Swaps the shadow of `p` in, first catching it up with the live checkpoint if that moved ahead. */
  async #swapIn(p: Projection, owner: string, replayed: bigint, progress: Progress): Promise<void> {
    let position = replayed;
    for (;;) {
      const outcome = await this.#o.sql.transaction((tx) => swap(tx, p, owner, position));
      if (outcome.swapped) break;
      // The live projection is ahead of the shadow: catch up outside any lock, try again.
      position = await this.#replay([p], owner, position, outcome.live, progress);
    }
    this.#o.swapped(p, position, progress.applied);
  }

  /**
   * Replays events after `from` into the shadow tables, a page per transaction, until the
   * store has no more (or, with `atLeast`, until that position is reached). The next page
   * is read and decoded while the current one is applied.
   */
  async #replay(
    projections: readonly Projection[],
    owner: string,
    from: bigint,
    atLeast: bigint | undefined,
    progress: Progress,
  ): Promise<bigint> {
    const types = typesOf(projections);
    const fetch = (after: bigint): Promise<Page> => this.#fetchPage(after, types);
    const deadline = Date.now() + 60_000;
    let position = from;
    let next: Promise<Page> | undefined = fetch(position);
    while (next) {
      const page: Page = await next;
      next = undefined;
      const reached = maxOf(position, page.reached);
      const more = page.full || (atLeast !== undefined && reached < atLeast);
      if (more) {
        next = fetch(reached);
        next.catch(() => {}); // observed when awaited; must not be unhandled if this page fails
      }
      if (page.events.length > 0) {
        // Each projection's shadow in a transaction of its own, side by side (on separate
        // connections PostgreSQL works on them in parallel); a failure fails the rebuild.
        // What they write is disposable until the swap (unlogged shadows, a lease
        // heartbeat): they need not wait for the WAL flush. The swap commits normally.
        await Promise.all(projections.map((p) => this.#o.sql.transaction(async (tx) => {
          await tx.query('set local synchronous_commit = off');
          await renewRebuildLease(tx, p.name, owner);
          await p.apply(tx, page.events, shadowTable);
        })));
      }
      const advanced = reached > position;
      position = reached;
      progress.applied += page.count;
      if (advanced) progress.report?.(progress.applied, position);
      if (more && !page.full) {
        // The live checkpoint saw events this reader does not see yet: they become visible shortly.
        if (Date.now() > deadline) throw new Error(`rebuild cannot read up to position ${String(atLeast)}`);
        await new Promise((resolve) => setTimeout(resolve, 20));
      }
    }
    return position;
  }

  /**
   * One page of events after `after`, decoded. `reached` is the position the shadow is
   * complete up to once the page is applied: its last event, or, when a page filtered by
   * type is not full, the head read before it (no matching event lies in between).
   */
  async #fetchPage(after: bigint, types: readonly string[] | undefined): Promise<Page> {
    const { store, batchSize, codec } = this.#o;
    const head = types ? await store.headPosition() : 0n;
    const raws = await store.readAll({
      after: after > 0n ? after : undefined,
      maxCount: batchSize,
      ...(types ? { types } : {}),
    });
    const full = raws.length >= batchSize;
    const last = raws.at(-1)?.position ?? after;
    return {
      events: await codec.decodeAll(raws),
      count: raws.length,
      full,
      reached: types && !full ? maxOf(last, head) : last,
    };
  }

  /** Drops the shadow tables of a rebuild that failed, if it still holds the lease. */
  async #abandon(p: Projection, owner: string): Promise<void> {
    try {
      await this.#o.sql.transaction(async (tx) => {
        if (await releaseRebuildLease(tx, p.name, owner)) await dropTables(tx, p.tables.map(shadowTable));
      });
    } catch (error) {
      this.#o.log.error({ err: error, projection: p.name }, 'could not clean up after a failed rebuild');
    }
  }
}

/**
 * The swap, under the checkpoint row lock: if the shadow has every event the live tables
 * have, replace the live tables by it and set the checkpoint to the shadow's position
 * (which may be ahead of the live one: the live loop then skips what the shadow has).
 */
async function swap(
  tx: SqlExecutor,
  p: Projection,
  owner: string,
  position: bigint,
): Promise<{ swapped: boolean; live: bigint }> {
  const live = await lockCheckpoint(tx, p.name);
  await renewRebuildLease(tx, p.name, owner);
  if (live > position) return { swapped: false, live };
  await tx.query(`lock table ${p.tables.map(liveTable).join(', ')} in access exclusive mode`);
  for (const base of p.tables) await swapTable(tx, base);
  await saveCheckpoint(tx, p.name, position, p.version);
  await releaseRebuildLease(tx, p.name, owner);
  return { swapped: true, live };
}

/**
 * The event types to replay for these projections; undefined: all of them. Only a single
 * projection reads by type (the users read model wants a few percent of the store). Several
 * together want nearly every event: the whole log in position order is then cheaper, and
 * its plan (the primary key, in order) does not hang on the planner's statistics. A typed
 * read over most of the store planned on stale statistics (right after a bulk load, before
 * autovacuum's ANALYZE) was seen to sort the whole remaining range for every page.
 */
function typesOf(projections: readonly Projection[]): readonly string[] | undefined {
  if (projections.length > 1) return undefined;
  const types = new Set<string>();
  for (const p of projections) {
    if (!p.types) return undefined;
    for (const type of p.types) types.add(type);
  }
  return [...types];
}
