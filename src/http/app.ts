/**
 * Builds the Fastify application as a plugin tree over a Runtime (stores, commands,
 * projections). src/main.ts listens; tests use `inject` or listen on port 0.
 */
import cors from '@fastify/cors';
import rateLimit from '@fastify/rate-limit';
import swagger from '@fastify/swagger';
import swaggerUi from '@fastify/swagger-ui';
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import { Ajv } from 'ajv';
import addFormatsModule from 'ajv-formats';
import Fastify, { type FastifyInstance, type FastifyServerOptions } from 'fastify';
import { randomUUID } from 'node:crypto';
import { STATUS_CODES } from 'node:http';
import type { Duplex } from 'node:stream';
import type { Runtime } from '../composition/runtime.js';
import { authPlugin } from './plugins/auth.js';
import { metricsPlugin } from './plugins/metrics.js';
import { securityHeaders } from './plugins/securityHeaders.js';
import { rateLimitStore } from './plugins/rateLimits.js';
import { HttpProblem, installErrorHandling, problem, sendProblem, type Problem as ProblemBody } from './problem.js';
import { stampConnections } from './context.js';
import { lazyChildLogger } from './plugins/requestLogger.js';
import { authRoutes } from './routes/auth.js';
import { consoleRoutes, defaultConsoleDir } from './routes/console.js';
import { withExamples, type OpenApiDocument } from './openapiExamples.js';
import { healthRoutes } from './routes/health.js';
import { meRoutes } from './routes/me.js';
import { meMfaRoutes } from './routes/meMfa.js';
import { mfaSignInRoutes } from './routes/mfaSignIn.js';
import { recoveryRoutes, verificationRoutes } from './routes/recovery.js';
import { oauthRoutes } from './routes/oauth/oauth.js';
import { adminRoutes } from './routes/admin/admin.js';
import { wellKnownRoutes } from './routes/wellKnown.js';
import { Problem } from './schemas/common.js';

// ajv-formats is CommonJS with a default export; under NodeNext it arrives as the module object.
const addFormats = addFormatsModule as unknown as (ajv: Ajv) => Ajv;

export const BODY_LIMIT = 64 * 1024;

/** Pretty lines for a person at a terminal (or when asked), JSON for everything else. */
const prettyLogs = (format: 'auto' | 'pretty' | 'json'): boolean => format === 'pretty' || (format === 'auto' && process.stdout.isTTY === true);

/**
 * An operationId from a method and a path: `POST /v1/auth/login` → `postAuthLogin`,
 * `DELETE /v1/admin/users/:id/roles/:role` → `deleteAdminUsersByIdRolesByRole`.
 */
export function operationIdOf(method: string, url: string): string {
  const pascal = (word: string): string => word.split(/[^A-Za-z0-9]+/).filter(Boolean).map((w) => w[0]?.toUpperCase() + w.slice(1)).join('');
  const parts = url.split('/').filter((p) => p !== '' && p !== 'v1' && p !== '*');
  const words = parts.map((p) => (p.startsWith(':') ? `By${pascal(p.slice(1))}` : pascal(p)));
  return `${method.toLowerCase()}${words.join('') || 'Root'}`;
}

export interface AppOptions {
  /** Fastify logger options (tests pass a stream to capture logs). */
  logger?: FastifyServerOptions['logger'];
}

/** Fields that must never appear in a log line. */
export const REDACT = [
  'req.headers.authorization', 'req.headers.cookie', 'res.headers["x-new-access-token"]',
  '*.password', '*.current_password', '*.new_password', '*.refresh_token', '*.access_token', '*.token',
  '*.password_hash', '*.refresh_token_hash',
  // Second factors (a TOTP code's field is `code`, left out: err.code is an error's kind).
  '*.recovery_code', '*.recovery_codes', '*.mfa_ticket', '*.mfa_token', '*.otp', '*.secret', '*.webauthn',
];

function compilers() {
  // Bodies are checked strictly: no type coercion (a numeric password is a 400), unknown
  // fields rejected, not silently removed. Query strings and params are coerced. Every
  // error is reported at once (allErrors), each field once, in plain words (problem.ts).
  const strict = addFormats(new Ajv({ coerceTypes: false, removeAdditional: false, useDefaults: true, strict: false, allErrors: true }));
  const lenient = addFormats(new Ajv({ coerceTypes: 'array', removeAdditional: false, useDefaults: true, strict: false, allErrors: true }));
  return { strict, lenient };
}

/** application/json or a +json type, with any parameters. */
function isJsonType(header: string | undefined): boolean {
  const type = (header ?? '').split(';')[0]?.trim().toLowerCase() ?? '';
  return type === 'application/json' || /^application\/[a-z0-9.+-]+\+json$/.test(type);
}

/**
 * A request Node cannot even parse (bad request line or header, headers over the limit, a
 * timeout) never reaches Fastify's handlers: answer it as problem+json on the raw socket,
 * as Fastify's default handler does in its own JSON shape, then close the connection.
 */
function clientErrorHandler(error: Error & { code?: string }, socket: Duplex): void {
  if (error.code === 'ECONNRESET' || socket.destroyed) return;
  let status = 400;
  let body: ProblemBody = problem('validation_failed', 'the HTTP request is malformed');
  if (error.code === 'ERR_HTTP_REQUEST_TIMEOUT') {
    status = 408;
    body = { ...problem('validation_failed', 'the request was not received in time'), status, title: 'Request timeout' };
  } else if (error.code === 'HPE_HEADER_OVERFLOW') {
    status = 431;
    body = { ...problem('payload_too_large', 'the request headers are too large'), status, title: 'Request header fields too large' };
  }
  if (body.code === 'validation_failed') body = { ...body, errors: [{ path: '/', message: body.detail }] };
  const text = JSON.stringify(body);
  if (socket.writable) {
    socket.write(`HTTP/1.1 ${status} ${STATUS_CODES[status] ?? 'Bad Request'}\r\nContent-Type: application/problem+json\r\n`
      + `Content-Length: ${Buffer.byteLength(text)}\r\nConnection: close\r\n\r\n${text}`);
  }
  socket.destroy(error);
}

export async function buildApp(runtime: Runtime, options: AppOptions = {}): Promise<FastifyInstance> {
  const { config } = runtime;
  // pino-pretty is loaded only when it is used (a terminal, or LOG_FORMAT=pretty).
  const pretty = options.logger === undefined && prettyLogs(config.logFormat) ? (await import('pino-pretty')).default : undefined;
  const app = Fastify({
    logger: options.logger ?? {
      level: config.logLevel, redact: { paths: REDACT, censor: '[redacted]' },
      ...(pretty ? { stream: pretty({ colorize: process.stdout.isTTY === true, translateTime: 'SYS:HH:MM:ss.l', ignore: 'pid,hostname' }) } : {}),
    },
    childLoggerFactory: lazyChildLogger,
    bodyLimit: BODY_LIMIT,
    // A hop count trusts that many proxies in front of us (as proxy-addr does for numbers).
    trustProxy: typeof config.trustProxy === 'number'
      ? ((hops: number) => (_address: string, hop: number) => hop < hops)(config.trustProxy)
      : config.trustProxy,
    genReqId: (req) => {
      const given = req.headers['x-request-id'];
      return typeof given === 'string' && /^[A-Za-z0-9._:-]{1,128}$/.test(given) ? given : randomUUID();
    },
    requestIdHeader: false,
    return503OnClosing: true,
    connectionTimeout: 30_000,
    requestTimeout: 30_000,
    routerOptions: { ignoreTrailingSlash: true, maxParamLength: 200 },
    clientErrorHandler,
    // Errors raised before routing (a malformed %-encoding in the URL) are problems too.
    frameworkErrors: (error, _request, reply) => {
      const bad = error.code === 'FST_ERR_BAD_URL';
      void sendProblem(reply, problem(bad ? 'validation_failed' : 'not_found', bad ? 'the request URL is malformed' : error.message));
    },
  }).withTypeProvider<TypeBoxTypeProvider>();

  const { strict, lenient } = compilers();
  app.setValidatorCompiler(({ schema, httpPart }) => (httpPart === 'body' ? strict : lenient).compile(schema));

  app.addHook('onSend', async (request, reply) => {
    reply.header('x-request-id', request.id);
  });
  stampConnections(app.server);

  installErrorHandling(app);
  app.addSchema(Problem);

  // JSON bodies: an empty body is no body (an optional body may be left out even when the
  // client sends Content-Type: application/json); prototype poisoning is refused (400).
  const defaultJson = app.getDefaultJsonParser('error', 'error');
  app.removeContentTypeParser('application/json');
  app.addContentTypeParser('application/json', { parseAs: 'string' }, (request, body, done) => {
    const text = typeof body === 'string' ? body : body.toString('utf8');
    if (text.trim() === '') {
      done(null, undefined);
      return;
    }
    defaultJson(request, text, done);
  });
  // Outside /oauth/* a request body must be JSON, whatever parsers exist (text/plain has a
  // built-in one; a form parser may be registered for /oauth): anything else is a 415.
  app.addHook('preValidation', async (request) => {
    if (request.body === undefined) return;
    if ((request.routeOptions.url ?? '').startsWith('/oauth/')) return;
    if ((request.routeOptions.config as { jsonLines?: boolean }).jsonLines === true) return; // its own parser says
    if (!isJsonType(request.headers['content-type'])) {
      throw new HttpProblem('unsupported_media_type', 'request bodies must be application/json');
    }
  });

  // Every documented operation gets an operationId (client generators name methods by it).
  app.addHook('onRoute', (route) => {
    const method = Array.isArray(route.method) ? route.method[0] : route.method;
    if (method === undefined || method === 'HEAD' || (route.schema as { hide?: boolean } | undefined)?.hide === true) return;
    route.schema = { ...route.schema, operationId: (route.schema as { operationId?: string } | undefined)?.operationId ?? operationIdOf(method, route.url) };
  });

  // Which methods each path answers, for 405s with an Allow header.
  const routes: { pattern: RegExp; method: string }[] = [];
  app.addHook('onRoute', (route) => {
    const methods = Array.isArray(route.method) ? route.method : [route.method];
    const pattern = new RegExp(`^${route.url.replace(/[.+?^${}()|[\]\\]/g, '\\$&').replace(/:[^/]+/g, '[^/]+').replace(/\*/g, '.*')}/?$`);
    for (const method of methods) routes.push({ pattern, method });
  });
  app.setNotFoundHandler((request, reply) => {
    const path = request.url.split('?')[0] ?? '/';
    const allowed = [...new Set(routes.filter((r) => r.pattern.test(path)).map((r) => r.method))];
    // A route of this method that sent the request here itself (a static folder's missing
    // file) found nothing: 404, not 405.
    if (allowed.length > 0 && !allowed.includes(request.method)) {
      return sendProblem(reply, problem('method_not_allowed', `${request.method} is not allowed here`, { instance: path }), { allow: allowed.join(', ') });
    }
    return sendProblem(reply, problem('not_found', `no route for ${request.method} ${path.slice(0, 200)}`, { instance: path.slice(0, 200) }));
  });

  await app.register(swagger, {
    openapi: {
      openapi: '3.0.3',
      info: { title: 'authstream', version: '1.0.0', description: 'Event-sourced authentication service' },
      servers: [{ url: config.publicUrl }],
      components: { securitySchemes: { bearer: { type: 'http', scheme: 'bearer', bearerFormat: 'JWT' } } },
    },
    // Every JSON body without a written example gets one made from its schema.
    transformObject: (documents) => ('openapiObject' in documents ? withExamples(documents.openapiObject as OpenApiDocument) : documents.swaggerObject) as never,
    // Shared schemas appear under their own names (#/components/schemas/Problem, …).
    refResolver: {
      buildLocalReference: (json, _baseUri, _fragment, i) => (typeof json.$id === 'string' ? json.$id : `def-${i}`),
    },
  });
  // Answers hold personal data or tokens unless their route says otherwise (the JWKS and
  // discovery documents set their own Cache-Control): no cache, private or shared, keeps them.
  await app.register(securityHeaders, { helmet: { contentSecurityPolicy: false }, defaults: { 'cache-control': 'no-store' } });
  if (config.corsOrigins !== false) {
    await app.register(cors, {
      origin: config.corsOrigins === '*' ? '*' : config.corsOrigins,
      exposedHeaders: ['x-new-access-token', 'x-request-id', 'retry-after'],
    });
  }
  const limits = rateLimitStore(config);
  app.addHook('onClose', () => limits.close());
  await app.register(rateLimit, limits.options);
  await app.register(metricsPlugin, { runtime });
  await app.register(authPlugin, { runtime });

  await app.register(authRoutes, { prefix: '/v1/auth', runtime });
  await app.register(recoveryRoutes, { prefix: '/v1/auth', runtime });
  await app.register(mfaSignInRoutes, { prefix: '/v1/auth', runtime });
  await app.register(meRoutes, { prefix: '/v1/me', runtime });
  await app.register(meMfaRoutes, { prefix: '/v1/me/mfa', runtime });
  await app.register(verificationRoutes, { prefix: '/v1/me', runtime });
  await app.register(wellKnownRoutes, { prefix: '/.well-known', runtime });
  await app.register(oauthRoutes, { prefix: '/oauth', runtime });
  await app.register(adminRoutes, { prefix: '/v1/admin', runtime });
  await app.register(healthRoutes, { prefix: '/health', runtime });
  if (config.console) await app.register(consoleRoutes, { dir: defaultConsoleDir() });
  for (const plugin of runtime.extraRoutes ?? []) await app.register(plugin, { runtime });

  await app.register(swaggerUi, { routePrefix: '/docs', staticCSP: true });
  app.get('/openapi.json', { schema: { hide: true } }, async () => app.swagger());

  // Sliding access tokens: a fresh token for the same session on authenticated answers.
  app.addHook('onSend', async (request, reply, payload) => {
    if (!request.auth || reply.statusCode >= 400) return payload;
    if (!runtime.settings.current().sliding_access_tokens) return payload;
    const url = request.url;
    if (url.startsWith('/v1/auth/') || url.startsWith('/oauth/')) return payload;
    const token = app.slidingAccessToken(request.auth);
    if (token !== undefined) reply.header('x-new-access-token', token);
    return payload;
  });

  return app;
}
