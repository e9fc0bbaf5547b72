/**
 * Operations and documentation: /health/live, /health/ready, /metrics (Prometheus text with
 * the HTTP histogram), /openapi.json (OpenAPI 3 listing this API with its schemas), /docs.
 */
import t from 'tap';
import { readFileSync } from 'node:fs';
import { buildTestApp } from '../helpers/app.js';
import { bearer, cheapHasher, parse, post, register } from '../helpers/http.js';

const { app } = await buildTestApp(t, {}, { hasher: cheapHasher() });

t.test('GET /health/live', async (t) => {
  const res = await app.inject({ method: 'GET', url: '/health/live' });
  t.equal(res.statusCode, 200);
  t.same(parse(res), { status: 'ok' });
});

t.test('GET /health/ready', async (t) => {
  const res = await app.inject({ method: 'GET', url: '/health/ready' });
  t.equal(res.statusCode, 200, res.body);
  const body = parse<{ event_store: { ok: boolean; latency_ms: number }; read_db: { ok: boolean; latency_ms: number }; projections: { lag_events: number } }>(res);
  t.equal(body.event_store.ok, true);
  t.equal(body.read_db.ok, true);
  t.type(body.event_store.latency_ms, 'number');
  t.type(body.read_db.latency_ms, 'number');
  t.ok(body.read_db.latency_ms >= 0);
  t.equal(body.projections.lag_events, 0, 'caught up');
});

t.test('GET /metrics: Prometheus text with the HTTP request histogram', async (t) => {
  const a = await register(t, app);
  await post(app, '/v1/auth/login', { email: a.user.email, password: 'wrong wrong wrong' });
  await app.inject({ method: 'GET', url: '/v1/me', headers: bearer(a.access_token) });
  await app.inject({ method: 'GET', url: '/no/such/path' });
  const res = await app.inject({ method: 'GET', url: '/metrics' });
  t.equal(res.statusCode, 200);
  t.match(String(res.headers['content-type']), /^text\/plain; version=0\.0\.4/);
  const text = res.body;
  t.match(text, /^# HELP authstream_http_request_duration_seconds /m);
  t.match(text, /^# TYPE authstream_http_request_duration_seconds histogram$/m);
  t.match(text, /^authstream_http_request_duration_seconds_bucket\{le="0\.005",method="GET",route="\/v1\/me",status="200"\} \d+$/m);
  t.match(text, /^authstream_http_request_duration_seconds_bucket\{le="\+Inf",method="POST",route="\/v1\/auth\/register",status="201"\} 1$/m);
  t.match(text, /^authstream_http_request_duration_seconds_count\{method="POST",route="\/v1\/auth\/login",status="401"\} 1$/m);
  t.match(text, /^authstream_http_request_duration_seconds_sum\{method="GET",route="\/v1\/me",status="200"\} [\d.e-]+$/m);
  t.match(text, /route="unmatched",status="404"/, 'unknown paths are one series, not one per path');
  t.notMatch(text, /no\/such\/path/);
  t.match(text, /^authstream_auth_outcomes_total\{operation="login",outcome="invalid_credentials"\} 1$/m, 'outcomes by problem code');
  t.match(text, /^authstream_auth_outcomes_total\{operation="register",outcome="ok"\} 1$/m);
  t.match(text, /^# TYPE authstream_projection_lag_events gauge$/m);
  t.match(text, /^process_cpu_user_seconds_total /m, 'the standard process_* names');
  t.match(text, /^nodejs_eventloop_lag_seconds /m, 'and nodejs_* ones');
  t.notMatch(text, /^authstream_process_/m);

  // The Grafana dashboard in docs/ asks only for series this service exports.
  const dashboard = JSON.parse(readFileSync(new URL('../../docs/grafana/authstream.json', import.meta.url), 'utf8')) as {
    panels: { title: string; targets: { expr: string }[] }[];
  };
  const exported = new Set([
    ...[...text.matchAll(/^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{| )/gm)].map((m) => m[1]),
    ...[...text.matchAll(/^# TYPE ([a-zA-Z_:][a-zA-Z0-9_:]*) /gm)].map((m) => m[1]), // declared, no sample yet
  ]);
  for (const panel of dashboard.panels) {
    for (const { expr } of panel.targets) {
      const names = [...expr.matchAll(/\b((?:authstream|process|nodejs)_[a-z0-9_]+)\b/g)].map((m) => m[1] as string);
      t.ok(names.length > 0 && names.every((n) => exported.has(n)), `dashboard "${panel.title}": ${names.join(', ')} exported`);
    }
  }
  // Every sample line is `name{labels} value`.
  for (const line of text.split('\n').filter((l) => l !== '' && !l.startsWith('#'))) {
    if (!/^[a-zA-Z_:][a-zA-Z0-9_:]*(\{[^}]*\})? (-?[\d.e+-]+|NaN|[+-]Inf)$/.test(line)) t.fail(`not a sample line: ${line}`);
  }
});

interface OpenApi {
  openapi: string;
  info: { title: string; version: string };
  paths: Record<string, Record<string, {
    operationId?: string;
    summary?: string;
    security?: unknown[];
    requestBody?: { content: Record<string, { schema: JsonSchema }> };
    responses: Record<string, { content?: Record<string, { schema: JsonSchema }> }>;
    parameters?: { name: string; in: string }[];
  }>>;
  components: { schemas: Record<string, JsonSchema>; securitySchemes: Record<string, unknown> };
}
interface JsonSchema {
  type?: string;
  $ref?: string;
  properties?: Record<string, JsonSchema>;
  required?: string[];
  additionalProperties?: boolean;
}

t.test('GET /openapi.json: an OpenAPI 3 document of this API with its schemas', async (t) => {
  const res = await app.inject({ method: 'GET', url: '/openapi.json' });
  t.equal(res.statusCode, 200);
  t.match(String(res.headers['content-type']), /^application\/json/);
  const doc = parse<OpenApi>(res);
  t.match(doc.openapi, /^3\./);
  t.equal(doc.info.title, 'authstream');
  const expected: Record<string, string[]> = {
    '/v1/auth/register': ['post'],
    '/v1/auth/login': ['post'],
    '/v1/auth/refresh': ['post'],
    '/v1/auth/logout': ['post'],
    '/v1/auth/logout-all': ['post'],
    '/v1/me': ['get', 'patch', 'delete'],
    '/v1/me/password': ['post'],
    '/v1/me/sessions': ['get'],
    '/v1/me/sessions/{id}': ['delete'],
    '/v1/me/activity': ['get'],
    '/.well-known/jwks.json': ['get'],
    '/health/live': ['get'],
    '/health/ready': ['get'],
    '/metrics': ['get'],
  };
  for (const [path, methods] of Object.entries(expected)) {
    for (const m of methods) t.ok(doc.paths[path]?.[m], `${m.toUpperCase()} ${path} is documented`);
  }

  const resolve = (s: JsonSchema | undefined): JsonSchema | undefined => {
    const ref = s?.$ref?.replace('#/components/schemas/', '');
    return ref === undefined ? s : doc.components.schemas[ref];
  };
  const register = doc.paths['/v1/auth/register']?.post;
  const body = register?.requestBody?.content['application/json']?.schema;
  t.same(Object.keys(body?.properties ?? {}).sort(), ['email', 'first_name', 'last_name', 'password', 'phone']);
  t.same(body?.required, ['password']);
  t.equal(body?.additionalProperties, false, 'unknown fields are documented as refused');
  const created = resolve(register?.responses['201']?.content?.['application/json']?.schema);
  t.same(Object.keys(created?.properties ?? {}).sort(), [
    'access_token', 'expires_in', 'mfa_enrolment_required', 'refresh_expires_in', 'refresh_token', 'session_id', 'token_type', 'user', 'withheld_roles',
  ]);
  t.same(created?.required?.slice().sort(), ['access_token', 'expires_in', 'refresh_expires_in', 'refresh_token', 'session_id', 'token_type', 'user'],
    'the MFA fields are optional');
  const user = resolve(created?.properties?.user);
  t.same(Object.keys(user?.properties ?? {}).sort(), [
    'created_at', 'email', 'email_verified', 'first_name', 'id', 'last_name', 'phone', 'phone_verified', 'roles', 'status', 'updated_at',
  ]);
  const problem = resolve(register?.responses['409']?.content?.['application/problem+json']?.schema);
  t.ok(problem, 'errors are documented as application/problem+json');
  t.same(problem?.required, ['type', 'title', 'status', 'detail', 'code']);
  t.ok(doc.components.schemas.Problem, 'the Problem schema has its own name');

  const me = doc.paths['/v1/me'];
  t.same(me?.get?.security, [{ bearer: [] }], 'Bearer auth documented');
  t.same(Object.keys(me?.patch?.requestBody?.content['application/json']?.schema.properties ?? {}).sort(), ['email', 'first_name', 'last_name', 'phone']);
  t.ok(me?.get?.responses['401'], '401 documented');
  const sessions = resolve(doc.paths['/v1/me/sessions']?.get?.responses['200']?.content?.['application/json']?.schema);
  const item = resolve((sessions?.properties?.sessions as JsonSchema & { items?: JsonSchema } | undefined)?.items);
  t.same(Object.keys(item?.properties ?? {}).sort(), ['created_at', 'current', 'expires_at', 'id', 'ip', 'last_used_at', 'user_agent']);
  t.ok(doc.paths['/v1/me/sessions/{id}']?.delete?.parameters?.some((p) => p.name === 'id' && p.in === 'path'));
  t.ok(doc.paths['/v1/auth/login']?.post?.responses['429'], '429 documented for login');
  t.ok(doc.components.securitySchemes.bearer);

  const operations = Object.entries(doc.paths).flatMap(([path, methods]) => Object.entries(methods).map(([m, op]) => ({ path, m, op })));
  const ids = operations.map((o) => o.op.operationId);
  t.same(operations.filter((o) => typeof o.op.operationId !== 'string').map((o) => `${o.m} ${o.path}`), [], 'every operation has an operationId');
  t.equal(new Set(ids).size, ids.length, 'each one its own');
  t.equal(doc.paths['/v1/auth/login']?.post?.operationId, 'postAuthLogin');
  t.equal(doc.paths['/v1/admin/users/{id}/roles/{role}']?.delete?.operationId, 'deleteAdminUsersByIdRolesByRole');
  t.same(operations.filter((o) => !o.op.summary).map((o) => `${o.m} ${o.path}`), [], 'and a summary');
  const tail = doc.paths['/v1/admin/events']?.get?.responses['200']?.content;
  t.ok(tail?.['application/json'] && tail['text/event-stream'], 'the feed documents JSON and the SSE tail (text/event-stream)');
  t.ok(doc.paths['/oauth/revoke']?.post?.responses['200'], 'RFC 7009\'s empty 200 is documented');

  type Media = { example?: unknown; examples?: unknown; schema: JsonSchema };
  const hasExample = (m: Media | undefined) => m !== undefined && (m.example !== undefined || m.examples !== undefined);
  const bodies = operations.filter((o) => o.op.requestBody?.content['application/json']);
  t.same(bodies.filter((o) => !hasExample(o.op.requestBody?.content['application/json'] as Media)).map((o) => `${o.m} ${o.path}`), [],
    `every JSON request body has an example (${bodies.length})`);
  const answers = operations.flatMap((o) => Object.entries(o.op.responses).filter(([c, r]) => c.startsWith('2') && r.content?.['application/json'])
    .map(([c, r]) => ({ at: `${o.m} ${o.path} ${c}`, media: r.content?.['application/json'] as Media })));
  t.same(answers.filter((a) => !hasExample(a.media)).map((a) => a.at), [], `every JSON success answer has one (${answers.length})`);
  const example = (doc.paths['/v1/auth/register']?.post?.requestBody?.content['application/json'] as Media).example as Record<string, unknown>;
  const made = await app.inject({ method: 'POST', url: '/v1/auth/register', payload: { ...example, email: 'example-from-openapi@example.com' } });
  t.equal(made.statusCode, 201, `the register example is a request the API accepts: ${made.body.slice(0, 200)}`);
  const login = (doc.paths['/v1/auth/login']?.post?.requestBody?.content['application/json'] as Media).example;
  const tried = await app.inject({ method: 'POST', url: '/v1/auth/login', payload: login as object });
  t.equal(tried.statusCode, 401, 'the login example passes validation (an unknown account: 401, not 400)');
});

t.test('GET /docs: an HTML API reference', async (t) => {
  for (const url of ['/docs', '/docs/']) {
    const res = await app.inject({ method: 'GET', url });
    t.equal(res.statusCode, 200, url);
    t.match(String(res.headers['content-type']), /^text\/html/);
    t.match(res.body, /<html/i);
    t.match(res.body, /swagger-ui/i);
  }
  const spec = await app.inject({ method: 'GET', url: '/docs/json' });
  t.equal(spec.statusCode, 200, 'the page loads its spec');
  t.match(parse<{ openapi: string }>(spec).openapi, /^3\./);
});
