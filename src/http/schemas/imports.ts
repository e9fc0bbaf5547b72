/** Query and answer of POST /v1/admin/imports (routes/admin/imports.ts). */
import { Type } from '@sinclair/typebox';

export const ImportQuery = Type.Object({
  source: Type.Optional(Type.String({ pattern: '^[A-Za-z0-9_.:-]{1,64}$', description: 'names the source (default "jsonl"): with each record\'s id it makes the user id, so posting the same records again changes nothing' })),
  dry_run: Type.Optional(Type.Boolean({ description: 'check everything, write nothing' })),
  verified: Type.Optional(Type.Boolean({ description: 'the identifiers count as verified (the admin vouches for them)' })),
  reset_unsupported: Type.Optional(Type.Boolean({ description: 'import users whose hash cannot be verified here (md5, sha1, crypt) with no usable password instead of refusing them' })),
  phone_region: Type.Optional(Type.String({ pattern: '^[A-Za-z]{2}$', description: 'read phone numbers without + as national numbers of this country' })),
  superuser_role: Type.Optional(Type.String({ maxLength: 64, description: 'role of is_superuser users (default admin; empty for none)' })),
  staff_role: Type.Optional(Type.String({ maxLength: 64, description: 'role of is_staff users (default staff; empty for none)' })),
}, { additionalProperties: false });

const Count = Type.Integer({ minimum: 0 });

export const ImportSummaryView = Type.Object({
  dry_run: Type.Boolean(),
  read: Count,
  imported: Count,
  duplicate: Count,
  refused: Count,
  reasons: Type.Record(Type.String(), Count, { description: 'refusals per reason' }),
  refused_records: Type.Array(Type.Object({
    index: Type.Integer({ minimum: 1, description: 'the line, counting non-empty lines from 1' }),
    source_id: Type.Union([Type.String(), Type.Null()]),
    reason: Type.String(),
    detail: Type.String(),
  })),
});
