/**
 * Request validation errors in plain words, one per field, all of them at once (as DRF
 * serializers answer): Ajv's messages ("must have required property 'password'", "/ must be
 * object") name schema keywords, not what the client should send.
 */

export interface FieldError {
  path: string;
  message: string;
}

/** What Fastify hands over of one Ajv error. */
export interface AjvError {
  keyword: string;
  instancePath?: string;
  params: Record<string, unknown>;
  message?: string;
}

const TYPE_NAMES: Record<string, string> = {
  object: 'a JSON object', array: 'a list', string: 'a string', integer: 'a whole number', number: 'a number',
  boolean: 'true or false', null: 'null',
};

const FORMATS: Record<string, string> = {
  email: 'an email address', uri: 'a URL', url: 'a URL', 'date-time': 'a date and time (ISO 8601)', uuid: 'a UUID', date: 'a date (YYYY-MM-DD)',
};

function typeName(type: unknown): string {
  const types = Array.isArray(type) ? type : String(type ?? '').split(',');
  return types.map((t) => TYPE_NAMES[String(t).trim()] ?? String(t)).join(' or ');
}

const plural = (n: unknown, one: string): string => `${String(n)} ${one}${n === 1 ? '' : 's'}`;

/** The message for one error, with the field named by the path rather than in the text. */
export function plainMessage(e: AjvError): string {
  const p = e.params;
  switch (e.keyword) {
    case 'required': return 'is required';
    case 'additionalProperties': return 'is not allowed';
    case 'type': return `must be ${typeName(p.type)}`;
    case 'minLength': return p.limit === 1 ? 'must not be empty' : `must be at least ${plural(p.limit, 'character')}`;
    case 'maxLength': return `must be at most ${plural(p.limit, 'character')}`;
    case 'minimum': return `must be at least ${String(p.limit)}`;
    case 'maximum': return `must be at most ${String(p.limit)}`;
    case 'exclusiveMinimum': return `must be more than ${String(p.limit)}`;
    case 'exclusiveMaximum': return `must be less than ${String(p.limit)}`;
    case 'minItems': return `must hold at least ${plural(p.limit, 'item')}`;
    case 'maxItems': return `must hold at most ${plural(p.limit, 'item')}`;
    case 'uniqueItems': return 'must not repeat an item';
    case 'enum': return `must be one of: ${(p.allowedValues as unknown[] | undefined)?.map((v) => JSON.stringify(v)).join(', ') ?? '…'}`;
    case 'const': return `must be ${JSON.stringify(p.allowedValue)}`;
    case 'format': return `must be ${FORMATS[String(p.format)] ?? `in the format ${String(p.format)}`}`;
    case 'pattern': return 'has characters or a shape that is not allowed here';
    case 'minProperties': return 'must not be empty';
    case 'anyOf': case 'oneOf': return 'does not match any of the accepted shapes';
    default: return e.message ?? 'is invalid';
  }
}

/** At most this many errors in one answer (a list of 1,000 bad items is told by its first ones). */
export const MAX_FIELD_ERRORS = 50;

/** Ajv errors as `[{ path, message }]` with JSON Pointer paths, each field once. */
export function fieldErrorsOf(errors: readonly AjvError[]): FieldError[] {
  const out: FieldError[] = [];
  const seen = new Set<string>();
  // A failed anyOf/oneOf also reports every branch's own error: when a field has a more
  // precise message, its "no shape matched" line is noise.
  const precise = new Set(errors.filter((e) => e.keyword !== 'anyOf' && e.keyword !== 'oneOf').map((e) => e.instancePath ?? ''));
  for (const e of errors) {
    let path = e.instancePath ?? '';
    if ((e.keyword === 'anyOf' || e.keyword === 'oneOf') && precise.has(path)) continue;
    const p = e.params as { missingProperty?: string; additionalProperty?: string };
    if (p.missingProperty) path = `${path}/${p.missingProperty}`;
    if (p.additionalProperty) path = `${path}/${p.additionalProperty}`;
    path ||= '/';
    const message = path === '/' && e.keyword === 'type' ? `the body must be ${typeName(e.params.type)}` : plainMessage(e);
    const key = `${path}\u0000${message}`;
    if (seen.has(key)) continue;
    seen.add(key);
    out.push({ path, message });
    if (out.length === MAX_FIELD_ERRORS) break;
  }
  return out;
}

/** One line for `detail`: "password is required; email must be a string". */
export function summary(errors: readonly FieldError[]): string {
  return errors.map((e) => (e.path === '/' ? e.message : `${e.path.slice(1).replace(/\//g, '.')} ${e.message}`)).join('; ') || 'invalid request';
}
