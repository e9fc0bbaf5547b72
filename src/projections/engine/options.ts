/** How a ProjectionRunner is set up, and the log it writes to. */
import type { EventStore } from '../../ports/eventStore.js';
import type { EventDecoder, EventEncoder } from '../../ports/events.js';
import type { Projection } from '../../ports/projections.js';
import type { Sql } from '../../ports/sql.js';

export interface RunnerLog {
  error(obj: Record<string, unknown>, msg: string): void;
  info?(obj: Record<string, unknown>, msg: string): void;
}

export interface ProjectionRunnerOptions {
  sql: Sql;
  store: EventStore;
  codec: EventDecoder;
  /** Encodes the EventParked events the runner appends (none appended without it). */
  encoder?: EventEncoder;
  projections: readonly Projection[];
  log?: RunnerLog;
  /** Largest live batch (default 500). */
  batchSize?: number;
  /** Events per transaction while a rebuild replays (default 2000). */
  rebuildBatchSize?: number;
  /** Backoff of failed batches and subscription restarts (defaults 100 ms doubling to 5 s). */
  retryFirstDelayMs?: number;
  retryMaxDelayMs?: number;
  /** A rebuild lease not renewed for this long may be taken over (default 60 s). */
  rebuildLeaseStaleMs?: number;
  /** How many events status() reads at most to count a lag (default 10,000). */
  statusScanLimit?: number;
}
