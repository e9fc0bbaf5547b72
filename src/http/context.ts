/** Request → event metadata: who acted, from where, in answer to which request. */
import type { Server } from 'node:http';
import type { Socket } from 'node:net';
import type { FastifyRequest } from 'fastify';
import type { EventContext } from '../ports/events.js';

const SAFE_ID = /^[A-Za-z0-9._:-]{1,128}$/;

/**
 * When the request arrived, by the wall clock: now, less the time since the metrics hook
 * stamped its arrival (hrtime). A refresh is judged by it (a lost race arrived before the
 * winning rotation was recorded), so it must not include the time spent parsing the body.
 */
export function arrivedAt(request: FastifyRequest): Date {
  return wallClockAt(startedAt(request));
}

/** The metrics hook's hrtime stamp of the request (now when there is none). */
const startedAt = (request: FastifyRequest): bigint =>
  (typeof request.startedAt === 'bigint' && request.startedAt > 0n ? request.startedAt : process.hrtime.bigint());

/** An hrtime instant as a wall-clock Date. */
const wallClockAt = (hr: bigint): Date => new Date(Date.now() - Number(process.hrtime.bigint() - hr) / 1e6);

const ACCEPTED = Symbol('authstream.acceptedAt');
const SERVED = Symbol('authstream.served');
type TrackedSocket = Socket & { [ACCEPTED]?: bigint; [SERVED]?: number };

/** A connection accepted this long before its first request still dates that request. */
const FIRST_REQUEST_SLACK_NS = 1_000_000_000n;

/** Stamps each connection when it is accepted (see refreshArrival). */
export function stampConnections(server: Server): void {
  server.on('connection', (socket: TrackedSocket) => {
    socket[ACCEPTED] = process.hrtime.bigint();
    socket[SERVED] = 0;
  });
}

/** Counts a request on its connection; call once per request (the metrics hook does). */
export function countRequest(request: FastifyRequest): void {
  const socket = request.raw.socket as TrackedSocket | undefined;
  if (socket?.[SERVED] !== undefined) socket[SERVED] += 1;
}

/**
 * When a refresh arrived (hrtime and wall clock). Requests a client sends at once on new
 * connections are read one by one, and on a busy instance a later one may be read only
 * after an earlier one was answered: its connection was accepted before that answer,
 * though. So the first request on a connection accepted moments ago dates from the accept.
 */
export function refreshArrival(request: FastifyRequest): { hr: bigint; wall: Date; connection?: { socket: object; fresh: boolean } } {
  let hr = startedAt(request);
  const socket = request.raw.socket as TrackedSocket | undefined;
  const accepted = socket?.[ACCEPTED];
  const fresh = socket?.[SERVED] === 1 && accepted !== undefined && accepted < hr && hr - accepted < FIRST_REQUEST_SLACK_NS;
  if (fresh) hr = accepted;
  const wall = wallClockAt(hr);
  // Connections this server accepted (not injected requests) are told apart.
  return accepted === undefined || !socket ? { hr, wall } : { hr, wall, connection: { socket, fresh } };
}

export function eventContext(request: FastifyRequest, actorId: string | null = request.auth?.userId ?? null): EventContext {
  const header = request.headers['x-correlation-id'];
  const correlation = typeof header === 'string' && SAFE_ID.test(header) ? header : request.id;
  const ua = request.headers['user-agent'];
  return {
    now: arrivedAt(request),
    correlationId: correlation,
    causationId: request.id,
    actorId,
    requestId: request.id,
    ip: request.ip ?? null,
    userAgent: typeof ua === 'string' ? ua.slice(0, 512) : null,
  };
}
