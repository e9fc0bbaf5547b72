/** Request → event metadata: who acted, from where, in answer to which request. */
import type { FastifyRequest } from 'fastify';
import type { EventContext } from '../ports/events.js';

const SAFE_ID = /^[A-Za-z0-9._:-]{1,128}$/;

export function eventContext(request: FastifyRequest, actorId: string | null = request.auth?.userId ?? null): EventContext {
  const header = request.headers['x-correlation-id'];
  const correlation = typeof header === 'string' && SAFE_ID.test(header) ? header : request.id;
  const ua = request.headers['user-agent'];
  return {
    now: new Date(),
    correlationId: correlation,
    causationId: request.id,
    actorId,
    requestId: request.id,
    ip: request.ip ?? null,
    userAgent: typeof ua === 'string' ? ua.slice(0, 512) : null,
  };
}
