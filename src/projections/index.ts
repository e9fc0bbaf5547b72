/**
 * The read models, in the order the runner feeds them, and the engine that runs them.
 * Each read model has a folder (projection.ts: tables and apply; queries.ts: the reads
 * the API makes); engine/ is shared by all. See README.md.
 */
import type { Projection } from '../ports/projections.js';
import { activityProjection } from './activity/projection.js';
import { sessionsProjection } from './sessions/projection.js';
import { usersProjection } from './users/projection.js';
import { webhooksProjection } from './webhooks/projection.js';

export function allProjections(): Projection[] {
  return [usersProjection, sessionsProjection, activityProjection, webhooksProjection];
}

export { ProjectionRunner, RebuildInProgressError, RebuildLeaseLostError } from './engine/runner.js';
export { countParked, listParked, unpark, type ParkedEvent } from './engine/parking.js';
