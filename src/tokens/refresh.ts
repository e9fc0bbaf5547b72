/**
 * Refresh coordination. Concurrent refreshes of one token (two tabs, a retried request)
 * are not theft. Rotation appends with an expected revision, so of N simultaneous
 * refreshes one wins; but a loser that reads the session stream just after the winner's
 * append would see an already rotated token and revoke the whole session as reused. So,
 * on this instance: a request that arrived before the winning refresh of the same token
 * was answered cannot come from a client that saw the new token: it lost the race and
 * gets invalid_token without touching the store. One that arrived after the answer left
 * is a replay and goes to the command, which detects the reuse. With a reuse grace, racing
 * requests are not turned away: each waits for the one before it, then goes to the
 * command, which gives it a fresh pair of the same session. Across instances the command
 * alone decides, from the session's events (decideRotate).
 */
import { rotateRefresh, type RotateOptions } from '../commands/rotateRefresh.js';
import type { CommandDeps } from '../commands/handle.js';
import type { IssuedTokens } from '../commands/sessions.js';
import { InvalidTokenError } from '../domain/errors.js';
import type { EventContext } from '../ports/events.js';
import { hashToken } from '../infra/secrets.js';

/** How long a finished refresh is remembered, to recognise requests that raced it. */
const RACED_REFRESH_MEMORY_MS = 30_000;

/**
 * A request read just after the winner's answer left, on another connection the client had
 * open already, may have been sent before that answer arrived (a client's parallel requests
 * leave a few milliseconds apart under load): within this slack it is still a race.
 */
const OTHER_CONNECTION_SLACK_NS = 50_000_000n;

interface Flight {
  done: Promise<boolean>;
  /** hrtime when the winner's answer was sent (null until then). */
  answeredAt: bigint | null;
  /** The winner's connection (undefined without one: an injected request). */
  connection: object | undefined;
}

/** One refresh request: when it arrived (hrtime), and an object that stands for it until answered. */
export interface RefreshArrival {
  arrivedAt: bigint;
  request: object;
  /**
   * Its connection, and whether the connection was opened for it (accepted moments before,
   * its first request): a new connection opened after the winner's answer left, or the
   * winner's own, can only carry a request sent after the client read that answer.
   */
  connection?: { socket: object; fresh: boolean };
}

/** Whether a request arriving after the winner's answer left could still have been sent before the client read it. */
function couldHaveRaced(prior: Flight, arrival: RefreshArrival): boolean {
  if (prior.answeredAt === null || arrival.arrivedAt <= prior.answeredAt) return true;
  const connection = arrival.connection;
  if (!connection || connection.fresh || connection.socket === prior.connection) return false;
  return arrival.arrivedAt - prior.answeredAt <= OTHER_CONNECTION_SLACK_NS;
}

/** The flight a request won, so its answer can mark the moment the new token left. */
const wonFlights = new WeakMap<object, Flight>();

/**
 * Marks a won refresh as answered; call it when the request's answer is sent.
 * Without it (no answer sent) a flight counts as unanswered until it is forgotten.
 */
export function refreshAnswered(request: object): void {
  const flight = wonFlights.get(request);
  if (flight && flight.answeredAt === null) flight.answeredAt = process.hrtime.bigint();
}

/** Wraps `rotate` so that requests racing a winning refresh of the same token lose quietly. */
export function refreshCoordinator<C>(
  rotate: (token: string, context: C, options: RotateOptions) => Promise<IssuedTokens>,
  graceSeconds: () => number = () => 0,
): (token: string, arrival: RefreshArrival, context: C) => Promise<IssuedTokens> {
  const flights = new Map<string, Flight>();
  return async (token, arrival, context) => {
    const key = hashToken(token);
    const prior = flights.get(key);
    let answeredHere = false;
    if (prior) {
      const succeeded = await prior.done;
      const raced = couldHaveRaced(prior, arrival);
      if (succeeded && raced && graceSeconds() === 0) {
        throw new InvalidTokenError('this refresh token was used by a concurrent request');
      }
      answeredHere = succeeded && !raced;
    }
    let settle: (ok: boolean) => void = () => {};
    const flight: Flight = {
      done: new Promise<boolean>((resolve) => { settle = resolve; }), answeredAt: null, connection: arrival.connection?.socket,
    };
    flights.set(key, flight);
    let ok = false;
    try {
      const issued = await rotate(token, context, { answeredHere });
      ok = true;
      wonFlights.set(arrival.request, flight);
      return issued;
    } finally {
      settle(ok);
      setTimeout(() => {
        if (flights.get(key) === flight) flights.delete(key);
      }, RACED_REFRESH_MEMORY_MS).unref();
    }
  };
}

/** This instance's refresh: rotateRefresh behind the coordinator. */
export function refresher(deps: CommandDeps): (token: string, arrival: RefreshArrival, ctx: EventContext) => Promise<IssuedTokens> {
  return refreshCoordinator(
    (token: string, ctx: EventContext, options: RotateOptions) => rotateRefresh(deps, token, ctx, options),
    () => deps.settings().refresh_reuse_grace_seconds);
}
