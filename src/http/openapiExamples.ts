/**
 * Examples for every request and response body of the OpenAPI document that has none of
 * its own: made from the schema (its `example`/`examples`, `default`, `const`, `enum`,
 * format and bounds), with realistic values for the fields this API uses (an email, an
 * E.164 phone, a uuid, a timestamp, a token). Written examples in the route schemas win.
 */

type Schema = Record<string, unknown> & {
  $ref?: string; type?: string | string[]; properties?: Record<string, Schema>; items?: Schema; required?: string[];
  anyOf?: Schema[]; oneOf?: Schema[]; allOf?: Schema[]; enum?: unknown[]; const?: unknown; format?: string; minimum?: number;
  minLength?: number; maximum?: number; example?: unknown; examples?: unknown[]; default?: unknown; pattern?: string; nullable?: boolean;
};
type Media = { schema?: Schema; example?: unknown; examples?: unknown };
type Operation = { requestBody?: { content?: Record<string, Media> }; responses?: Record<string, { content?: Record<string, Media> }> };
export interface OpenApiDocument { paths?: Record<string, Record<string, Operation>>; components?: { schemas?: Record<string, Schema> } }

const UUID = '0b5a6f1e-3c1d-4e7a-9f2b-6d8c4a1e2f30';
const TIME = '2026-12-04T09:30:00.000Z';

/** A value for a field by its name, when the schema alone says only "a string". */
function byName(name: string): unknown {
  if (name === 'email' || name.endsWith('_email')) return 'ada@example.com';
  if (name === 'phone' || name === 'to') return '+447700900123';
  if (/password$/.test(name)) return 'correct horse battery staple';
  if (name === 'first_name') return 'Ada';
  if (name === 'last_name') return 'Lovelace';
  if (name === 'identifier' || name === 'username') return 'ada@example.com';
  if (name === 'id' || name.endsWith('_id')) return UUID;
  if (name.endsWith('_at') || name === 'since' || name === 'timestamp') return TIME;
  if (name === 'access_token') return 'eyJhbGciOiJFZERTQSIsImtpZCI6Ii03LU1CZnkifQ.eyJzdWIiOiIwYjVhIn0.c2lnbmF0dXJl';
  if (name === 'refresh_token' || name === 'token') return 'rt_Jc1y0mB4XqvV9TzK2nW8sA…';
  if (name === 'code') return '492039';
  if (name === 'role' || name.endsWith('_role')) return 'admin';
  if (name === 'type' || name.endsWith('_type')) return 'UserRegistered';
  if (name === 'url') return 'https://hooks.example.com/authstream';
  if (name === 'user_agent') return 'Mozilla/5.0 (X11; Linux x86_64)';
  if (name === 'ip') return '203.0.113.7';
  if (name === 'position' || name === 'head' || name === 'revision' || name.endsWith('_position') || name === 'from' || name === 'next_from') return '42';
  return undefined;
}

function resolve(schema: Schema, components: Record<string, Schema>): Schema {
  const ref = schema.$ref?.replace(/^#\/components\/schemas\//, '').replace(/#$/, '');
  return ref !== undefined && components[ref] ? components[ref] as Schema : schema;
}

export function exampleOf(raw: Schema, components: Record<string, Schema>, name = '', depth = 0): unknown {
  const schema = resolve(raw, components);
  if (schema.example !== undefined) return schema.example;
  if (Array.isArray(schema.examples) && schema.examples.length > 0) return schema.examples[0];
  if (schema.const !== undefined) return schema.const;
  if (schema.default !== undefined) return schema.default;
  if (Array.isArray(schema.enum) && schema.enum.length > 0) return schema.enum[0];
  if (depth > 8) return null;
  const branches = schema.anyOf ?? schema.oneOf;
  if (branches) {
    const nonNull = branches.find((b) => resolve(b, components).type !== 'null') ?? branches[0];
    return nonNull ? exampleOf(nonNull, components, name, depth + 1) : null;
  }
  if (schema.allOf) return Object.assign({}, ...schema.allOf.map((s) => exampleOf(s, components, name, depth + 1)));
  const type = Array.isArray(schema.type) ? schema.type.find((t) => t !== 'null') : schema.type;
  switch (type ?? (schema.properties ? 'object' : undefined)) {
    case 'object': {
      const out: Record<string, unknown> = {};
      for (const [key, sub] of Object.entries(schema.properties ?? {})) out[key] = exampleOf(sub, components, key, depth + 1);
      // Sign-in bodies take one of email, phone and identifier: an example names one.
      const required = new Set(schema.required ?? []);
      if ('email' in out && !required.has('email')) for (const other of ['phone', 'identifier']) if (!required.has(other)) delete out[other];
      return out;
    }
    case 'array': return schema.items ? [exampleOf(schema.items, components, name.replace(/s$/, ''), depth + 1)] : [];
    case 'integer': case 'number': {
      const wanted = /seconds|ttl|expires_in/.test(name) ? 300 : schema.minimum ?? 1;
      return Math.max(schema.minimum ?? -Infinity, Math.min(schema.maximum ?? Infinity, wanted));
    }
    case 'boolean': return name.startsWith('is_') || name.endsWith('_verified') ? true : false;
    case 'null': return null;
    case 'string': {
      const named = byName(name);
      if (named !== undefined) return named;
      if (schema.format === 'date-time') return TIME;
      if (schema.format === 'email') return 'ada@example.com';
      if (schema.format === 'uuid') return UUID;
      if (schema.format === 'uri' || schema.format === 'url') return 'https://example.com/';
      if (schema.pattern === '^[0-9]+$') return '42';
      return 'string';
    }
    default: return null;
  }
}

/** Adds an example to every JSON body (request and 2xx responses) that has none. */
export function withExamples<T extends OpenApiDocument>(doc: T): T {
  const components = doc.components?.schemas ?? {};
  const fill = (media: Media | undefined): void => {
    if (!media?.schema || media.example !== undefined || media.examples !== undefined) return;
    const s = resolve(media.schema, components);
    if (s.example !== undefined || (Array.isArray(s.examples) && s.examples.length > 0)) return;
    const value = exampleOf(media.schema, components);
    if (value !== null && value !== undefined) media.example = value;
  };
  for (const methods of Object.values(doc.paths ?? {})) {
    for (const op of Object.values(methods)) {
      for (const [type, media] of Object.entries(op.requestBody?.content ?? {})) if (type.includes('json')) fill(media);
      for (const [status, response] of Object.entries(op.responses ?? {})) {
        if (!status.startsWith('2')) continue;
        for (const [type, media] of Object.entries(response.content ?? {})) if (type.includes('json')) fill(media);
      }
    }
  }
  return doc;
}
