/** The SQL read models, in the order the runner feeds them. */
import { activityProjection } from './activity/projection.js';
import type { Projection } from './engine/runner.js';
import { sessionsProjection } from './sessions/projection.js';
import { usersProjection } from './users/projection.js';

export function allProjections(): Projection[] {
  return [usersProjection, sessionsProjection, activityProjection];
}

export { ProjectionRunner, RebuildInProgressError, RebuildLeaseLostError } from './engine/runner.js';
export type {
  EventDecoder, LiveConsumer, Projection, ProjectionRunnerOptions, ProjectionStatus, RebuildProgress, RunnerLog,
  TableNamer,
} from './engine/runner.js';
export { RevocationSet, type RevocationSetOptions } from '../tokens/revocations.js';
export * from './queries.js';
