/**
 * Projection rebuilds started from the admin API: run in the background, at most one per
 * projection. The runner's lease (authstream.projection_rebuilds) makes that true across
 * instances; this tracker answers "already running here" at once and waits briefly for the
 * runner to take the lease so a rebuild running on another instance is a 409 too.
 */
import { ConflictError, NotFoundError } from '../../../domain/errors.js';
import { allProjections, RebuildInProgressError, type ProjectionRunner } from '../../../projections/index.js';

export interface RebuildState {
  startedAt: Date;
  /** Events replayed so far. */
  applied: number;
  position: bigint;
}

export interface RebuildLog {
  info(obj: Record<string, unknown>, msg: string): void;
  error(obj: Record<string, unknown>, msg: string): void;
}

/** Names of the SQL projections (the ones a rebuild applies to). */
export const projectionNames = (): string[] => allProjections().map((p) => p.name);

export class Rebuilds {
  readonly #runner: Pick<ProjectionRunner, 'rebuild' | 'reloadConsumer'>;
  readonly #log: RebuildLog;
  readonly #graceMs: number;
  readonly #running = new Map<string, { state: RebuildState; done: Promise<void> }>();

  /** `graceMs`: how long start() waits for the lease (or the first progress) before answering. */
  constructor(runner: Pick<ProjectionRunner, 'rebuild' | 'reloadConsumer'>, log: RebuildLog, graceMs = 2000) {
    this.#runner = runner;
    this.#log = log;
    this.#graceMs = graceMs;
  }

  isRunning(name: string): boolean {
    return this.#running.has(name);
  }

  state(name: string): RebuildState | undefined {
    return this.#running.get(name)?.state;
  }

  /** Resolves once every rebuild started here has ended (for shutdown and tests). */
  async settled(): Promise<void> {
    await Promise.all([...this.#running.values()].map((r) => r.done));
  }

  /**
   * Starts a rebuild in the background. Throws NotFoundError for an unknown projection and
   * ConflictError when one is already running (here, or on another instance holding the lease).
   */
  async start(name: string): Promise<void> {
    if (!projectionNames().includes(name)) {
      // An in-memory consumer (revocations, settings, …): reloaded from its source at once.
      if (await this.#runner.reloadConsumer(name)) {
        this.#log.info({ projection: name }, 'admin reload of an in-memory consumer');
        return;
      }
      throw new NotFoundError(`projection ${name}`);
    }
    if (this.#running.has(name)) throw new ConflictError(`a rebuild of projection ${name} is already running`);
    const state: RebuildState = { startedAt: new Date(), applied: 0, position: 0n };
    let progressed!: () => void;
    const firstProgress = new Promise<void>((resolve) => {
      progressed = resolve;
    });
    const rebuild = this.#runner.rebuild(name, (applied, position) => {
      state.applied = applied;
      state.position = position;
      progressed();
    });
    const done = rebuild.then(
      () => this.#log.info({ projection: name, events: state.applied }, 'admin rebuild finished'),
      (error: unknown) => {
        if (error instanceof RebuildInProgressError) return;
        this.#log.error({ err: error, projection: name }, 'admin rebuild failed');
      },
    ).finally(() => {
      if (this.#running.get(name)?.done === done) this.#running.delete(name);
    });
    this.#running.set(name, { state, done });

    let timer: NodeJS.Timeout | undefined;
    const grace = new Promise<void>((resolve) => {
      timer = setTimeout(resolve, this.#graceMs);
    });
    try {
      // The lease is taken before the first progress report; a rebuild of an empty store
      // finishes before the grace period ends.
      await Promise.race([rebuild, firstProgress, grace]);
    } catch (error) {
      if (error instanceof RebuildInProgressError) throw new ConflictError(error.message);
      throw error;
    } finally {
      clearTimeout(timer);
    }
  }
}
