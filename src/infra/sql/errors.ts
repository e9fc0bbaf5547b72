/** Which database errors mean "not reachable right now", and their translation to the port's StoreUnavailableError. */
import { StoreUnavailableError } from '../../ports/eventStore.js';

const CONNECTION_ERROR_CODES = new Set([
  'ECONNREFUSED', 'ECONNRESET', 'ENOTFOUND', 'ETIMEDOUT', 'EPIPE', 'EHOSTUNREACH', 'EAI_AGAIN',
  '57P01', // admin_shutdown
  '57P02', // crash_shutdown
  '57P03', // cannot_connect_now
  '08000', '08003', '08006', '08001', '08004', // connection exceptions
  '53300', // too_many_connections
]);

/** True when an error means "the database is not reachable right now", not "your SQL is wrong". */
export function isConnectionError(error: unknown): boolean {
  if (!(error instanceof Error)) return false;
  const code = (error as { code?: unknown }).code;
  if (typeof code === 'string' && CONNECTION_ERROR_CODES.has(code)) return true;
  // A FATAL (or PANIC) report ends the session: the server refused or dropped the connection
  // (e.g. 55000 "database is not currently accepting connections"), whatever its code.
  const severity = (error as { severity?: unknown }).severity;
  if (severity === 'FATAL' || severity === 'PANIC') return true;
  return /Connection terminated|connection timeout|Client has encountered a connection error|timeout exceeded when trying to connect|Cannot use a pool after calling end|terminating connection/i.test(
    error.message,
  );
}

/** Re-throws connection failures as StoreUnavailableError; everything else unchanged. */
export function translateError(error: unknown, what: string): never {
  if (error instanceof StoreUnavailableError) throw error;
  if (isConnectionError(error)) throw new StoreUnavailableError(`${what} unavailable`, { cause: error });
  throw error;
}
