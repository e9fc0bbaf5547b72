/** The SQL read models, in the order the runner feeds them. */
import { activityProjection } from './activity.js';
import type { Projection } from './runner.js';
import { sessionsProjection } from './sessions.js';
import { usersProjection } from './users.js';

export function allProjections(): Projection[] {
  return [usersProjection, sessionsProjection, activityProjection];
}

export { ProjectionRunner, RebuildInProgressError, RebuildLeaseLostError } from './runner.js';
export type {
  EventDecoder, LiveConsumer, Projection, ProjectionRunnerOptions, ProjectionStatus, RebuildProgress, RunnerLog,
  TableNamer,
} from './runner.js';
export { RevocationSet, type RevocationSetOptions } from './revocations.js';
export * from './queries.js';
