/**
 * Prometheus metrics (prom-client, one registry per app): HTTP request durations by route,
 * auth outcomes, and projection positions and lag, read when scraped.
 */
import fp from 'fastify-plugin';
import type { FastifyInstance } from 'fastify';
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import { problemCodeOf } from '../problem.js';
import type { Runtime } from '../../composition/runtime.js';
import { countRequest } from '../context.js';

declare module 'fastify' {
  interface FastifyInstance {
    metrics: { registry: Registry; authOutcomes: Counter<'operation' | 'outcome'> };
  }
  interface FastifyRequest {
    startedAt: bigint;
  }
}

export const metricsPlugin = fp(async (app: FastifyInstance, { runtime }: { runtime: Runtime }) => {
  const registry = new Registry();
  // The standard process_* and nodejs_* names, unprefixed, so stock dashboards work.
  collectDefaultMetrics({ register: registry });

  const duration = new Histogram({
    name: 'authstream_http_request_duration_seconds',
    help: 'HTTP request duration by route, method and status',
    labelNames: ['method', 'route', 'status'] as const,
    buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5],
    registers: [registry],
  });
  const authOutcomes = new Counter({
    name: 'authstream_auth_outcomes_total',
    help: 'Outcomes of register, login, refresh and logout: ok, or the problem code (invalid_credentials, rate_limited, …)',
    labelNames: ['operation', 'outcome'] as const,
    registers: [registry],
  });
  const webhookCounter = (name: string, help: string, pick: (id: string) => number) => new Counter({
    name, help, labelNames: ['webhook'] as const, registers: [registry],
    collect() {
      this.reset();
      const stats = runtime.webhooks.stats;
      for (const id of new Set([...stats.delivered.keys(), ...stats.failed.keys()])) this.inc({ webhook: id }, pick(id));
    },
  });
  webhookCounter('authstream_webhook_deliveries_total', 'Webhook deliveries answered 2xx, by endpoint (this instance)',
    (id) => runtime.webhooks.stats.delivered.get(id) ?? 0);
  webhookCounter('authstream_webhook_failures_total', 'Webhook delivery attempts that failed, by endpoint (this instance)',
    (id) => runtime.webhooks.stats.failed.get(id) ?? 0);
  new Gauge({
    name: 'authstream_webhook_lag_events',
    help: 'Events an enabled webhook endpoint has yet to receive (counted up to 10,000)',
    labelNames: ['webhook'] as const,
    registers: [registry],
    async collect() {
      this.reset();
      try {
        for (const { id, lag } of await runtime.webhooks.lags()) this.set({ webhook: id }, lag);
      } catch {
        // store down: /health/ready says so
      }
    },
  });
  new Gauge({
    name: 'authstream_projection_lag_events',
    help: 'Events the projection has yet to apply',
    labelNames: ['projection'] as const,
    registers: [registry],
    async collect() {
      try {
        for (const p of await runtime.projections.status()) this.set({ projection: p.name }, p.lag_events);
      } catch {
        // store down: /health/ready says so; keep the scrape working
      }
    },
  });

  // The histogram's child per (method, status, route), looked up by one string instead of
  // prom-client hashing a label object on every request. Bounded: routes are the declared
  // patterns (or 'unmatched'), and methods and status codes are few.
  const timers = new Map<string, { observe(value: number): void }>();

  app.decorate('metrics', { registry, authOutcomes });
  app.decorateRequest('startedAt', 0n);

  app.addHook('onRequest', async (request) => {
    request.startedAt = process.hrtime.bigint();
    countRequest(request);
  });
  app.addHook('onResponse', async (request, reply) => {
    const route = request.routeOptions.url ?? 'unmatched';
    const seconds = Number(process.hrtime.bigint() - request.startedAt) / 1e9;
    const key = `${request.method} ${reply.statusCode} ${route}`;
    let timer = timers.get(key);
    if (!timer) {
      timer = duration.labels(request.method, route, String(reply.statusCode));
      timers.set(key, timer);
    }
    timer.observe(seconds);
    const op = /^\/v1\/auth\/(register|login|refresh|logout)$/.exec(route)?.[1];
    if (op) {
      const outcome = reply.statusCode < 400 ? 'ok' : problemCodeOf(reply) ?? String(reply.statusCode);
      authOutcomes.inc({ operation: op, outcome });
    }
  });

  app.get('/metrics', {
    logLevel: 'warn', // scraped every few seconds: not a line at info each time
    schema: {
      tags: ['operations'], summary: 'Prometheus metrics (text exposition format)',
      response: { 200: { description: 'Prometheus text format 0.0.4', content: { 'text/plain': { schema: { type: 'string' } } } } },
    },
  }, async (_request, reply) => {
    reply.type(registry.contentType);
    return registry.metrics();
  });
}, { name: 'authstream-metrics' });
