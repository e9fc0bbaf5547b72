/** Ids in request paths. */
import { NotFoundError } from '../domain/errors.js';
import { isUuid } from '../lib/uuid.js';

/** An id from the path, lower-cased; anything but a uuid names no `what` here: 404. */
export function pathId(id: string, what: string): string {
  if (!isUuid(id)) throw new NotFoundError(what);
  return id.toLowerCase();
}
