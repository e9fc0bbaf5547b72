/**
 * POST /v1/admin/imports: users from another system, one JSON object a line
 * (`application/x-ndjson` or `application/jsonl`, the schema of `authstream import jsonl`),
 * at most MAX_LINES a request; larger files go in several requests or through the CLI.
 * Each user is a UserImported event with the admin as actor. Posting the same lines again
 * imports nothing twice (duplicates), so a failed request is simply sent again.
 */
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { parseJsonLine } from '../../../commands/import/django.js';
import { runImport, type ImportResult, type SourceItem } from '../../../commands/import/run.js';
import type { Runtime } from '../../../composition/runtime.js';
import { ValidationError } from '../../../domain/errors.js';
import { phoneRegion } from '../../../policy/identifiers.js';
import { eventContext } from '../../context.js';
import { HttpProblem } from '../../problem.js';
import { errorResponses } from '../../schemas/common.js';
import { ImportQuery, ImportSummaryView } from '../../schemas/imports.js';

export const MAX_LINES = 10_000;
const BODY_LIMIT = 16 * 1024 * 1024;
const TYPES = ['application/x-ndjson', 'application/jsonl'];

export const adminImportRoutes: FastifyPluginAsyncTypebox<{ runtime: Runtime }> = async (app, { runtime }) => {
  app.addContentTypeParser(TYPES, { parseAs: 'string', bodyLimit: BODY_LIMIT }, (_request, body, done) => done(null, body));

  app.post('/imports', {
    bodyLimit: BODY_LIMIT,
    config: { jsonLines: true },
    schema: {
      tags: ['admin'], security: [{ bearer: [] }],
      summary: `Import users with their password hashes (JSON Lines, at most ${MAX_LINES} a request; see docs/migrating-from-django.md)`,
      querystring: ImportQuery,
      response: { 200: ImportSummaryView, ...errorResponses(400, 401, 403, 413, 415, 503) },
    },
  }, async (request) => {
    const type = (request.headers['content-type'] ?? '').split(';')[0]?.trim().toLowerCase() ?? '';
    if (!TYPES.includes(type) || typeof request.body !== 'string') {
      throw new HttpProblem('unsupported_media_type', 'send the users as application/x-ndjson: one JSON object a line');
    }
    const q = request.query;
    const region = q.phone_region === undefined ? undefined : phoneRegion(q.phone_region);
    if (region === null) throw new ValidationError('/phone_region', 'is not a country code');
    const roles = {
      ...(q.staff_role !== undefined ? { staffRole: q.staff_role } : {}),
      ...(q.superuser_role !== undefined ? { superuserRole: q.superuser_role } : {}),
    };
    const items: SourceItem[] = [];
    for (const line of request.body.split('\n')) {
      const item = parseJsonLine(line, roles);
      if (item === null) continue;
      if (items.length >= MAX_LINES) throw new HttpProblem('payload_too_large', `at most ${MAX_LINES} users a request`);
      items.push(item);
    }
    const refused: ImportResult[] = [];
    const dryRun = q.dry_run === true;
    const ctx = eventContext(request);
    let last: bigint | null = null;
    const summary = await runImport(runtime.deps, (async function* () { yield* items; })(), {
      source: q.source ?? 'jsonl', dryRun, verified: q.verified === true,
      unsupportedHashes: q.reset_unsupported === true ? 'reset' : 'refuse', ...(region ? { phoneRegion: region } : {}),
      onResult: (r) => {
        if (r.result.outcome === 'refused') refused.push(r);
        if (r.result.outcome === 'imported' && r.result.position !== null && (last === null || r.result.position > last)) last = r.result.position;
      },
    }, () => ({ ...ctx, now: new Date() }));
    await runtime.readYourWrites(last);
    return {
      dry_run: dryRun, read: summary.read, imported: summary.imported, duplicate: summary.duplicate, refused: summary.refused,
      reasons: summary.reasons as Record<string, number>,
      refused_records: refused.map((r) => ({
        index: r.index, source_id: r.sourceId,
        reason: r.result.outcome === 'refused' ? r.result.reason : '', detail: r.result.outcome === 'refused' ? r.result.detail : '',
      })),
    };
  });
};
