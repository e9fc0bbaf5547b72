/** `import django` and `import jsonl`: users and their password hashes from another system. */
import { randomUUID } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { createInterface } from 'node:readline';
import { fromDjango, parseJsonLine, type RoleMapping } from '../commands/import/django.js';
import { runImport, type SourceItem } from '../commands/import/run.js';
import { DjangoSource, DjangoSourceError, parseColumnMap } from '../infra/import/djangoSource.js';
import type { EventContext } from '../ports/events.js';
import { phoneRegion } from '../policy/identifiers.js';
import type { CliCommand, CliIo } from './command.js';
import { CliError, guarded, stopSignal, stringOption, withRuntime } from './context.js';
import { printSummary, Progress, RefusalReport } from './importReport.js';

type Values = Record<string, string | boolean | string[] | boolean[] | undefined>;

const COMMON_OPTIONS = {
  source: { type: 'string' },
  'phone-region': { type: 'string' },
  'staff-role': { type: 'string' },
  'superuser-role': { type: 'string' },
  verified: { type: 'boolean' },
  'reset-unsupported': { type: 'boolean' },
  'dry-run': { type: 'boolean' },
  concurrency: { type: 'string' },
  report: { type: 'string' },
  json: { type: 'boolean' },
} as const;

const COMMON_USAGE = `Options:
  --source <name>          names the source; with the source's id it makes the user's id,
                           so a re-run (same name) skips who is already imported
  --phone-region <CC>      read phone numbers without + as national numbers of CC (FR, US…)
  --superuser-role <role>  role of is_superuser users (default admin; "" for none)
  --staff-role <role>      role of is_staff users (default staff; "" for none)
  --verified               the identifiers count as verified (you vouch for them)
  --reset-unsupported      import users whose hash cannot be verified here (md5, sha1,
                           crypt) with no usable password, instead of refusing them
  --dry-run                check everything, write nothing
  --concurrency <n>        batches of ten users written at once (default 8, at most 64)
  --report <file>          write each refused record as a JSON line (index, source_id,
                           reason, detail: no personal data)
  --json                   print the summary as JSON

Re-running the same import resumes it: users already imported are counted as duplicates.
The password hashes are kept as they are and replaced by argon2id at each user's first
sign-in. See docs/migrating-from-django.md.`;

function roleMapping(values: Values): RoleMapping {
  return {
    ...(typeof values['staff-role'] === 'string' ? { staffRole: values['staff-role'] } : {}),
    ...(typeof values['superuser-role'] === 'string' ? { superuserRole: values['superuser-role'] } : {}),
  };
}

function concurrencyOf(values: Values): number {
  const raw = stringOption(values.concurrency);
  if (raw === undefined) return 8;
  if (!/^[0-9]{1,2}$/.test(raw) || Number(raw) < 1 || Number(raw) > 64) throw new CliError('--concurrency must be 1 to 64', 2);
  return Number(raw);
}

/** Runs an import from `items` with the common options, and reports. */
async function importFrom(io: CliIo, values: Values, defaultSource: string, total: number | null, items: AsyncIterable<SourceItem>): Promise<number> {
  const regionRaw = stringOption(values['phone-region']);
  const region = regionRaw === undefined ? undefined : phoneRegion(regionRaw);
  if (region === null) throw new CliError(`--phone-region ${regionRaw}: not a country code libphonenumber knows`, 2);
  const source = stringOption(values.source) ?? defaultSource;
  if (!/^[A-Za-z0-9_.:-]{1,64}$/.test(source)) throw new CliError('--source must be 1-64 letters, digits, _ . : -', 2);
  const concurrency = concurrencyOf(values);
  const dryRun = values['dry-run'] === true;
  const report = new RefusalReport(stringOption(values.report));
  const stop = stopSignal(io);
  try {
    return await withRuntime(io, async (runtime) => {
      const progress = new Progress(io, total);
      const correlationId = randomUUID();
      const context = (): EventContext => ({
        now: new Date(), correlationId, causationId: null, actorId: null, requestId: null, ip: null,
        userAgent: `authstream cli (import ${source})`,
      });
      const summary = await runImport(runtime.deps, items, {
        source, dryRun, concurrency, verified: values.verified === true,
        unsupportedHashes: values['reset-unsupported'] === true ? 'reset' : 'refuse', ...(region ? { phoneRegion: region } : {}),
        onResult: (r) => report.add(r), onProgress: (s) => progress.update(s), signal: stop.signal,
      }, context);
      progress.end();
      printSummary(io, summary, report, { json: values.json === true, dryRun, seconds: progress.seconds });
      if (stop.signal.aborted) io.err.write('interrupted: run the same command again to resume\n');
      return stop.signal.aborted ? 130 : 0;
    }, { projections: false }); // the service's runner applies what it appends
  } finally {
    stop.dispose();
    await report.close();
  }
}

export const importDjangoCommand: CliCommand = {
  name: 'import django',
  summary: 'Import users and password hashes from a Django database (PostgreSQL)',
  usage: `Usage: authstream import django --from <postgres URL> [--table auth_user] [--map field=column …] [options]

Reads the Django project's user table directly (read-only) and imports every user as a
UserImported event, with their Django password hash. --table names a custom user model's
table (schema.table allowed). Columns are found by their Django names (id, email, phone,
first_name, last_name, password, is_active, is_staff, is_superuser, date_joined,
last_login; phone also as phone_number or mobile); --map email=email_address maps one
that is named otherwise (repeat --map for several). A user needs an email or a phone.

${COMMON_USAGE}`,
  options: { ...COMMON_OPTIONS, from: { type: 'string' }, table: { type: 'string' }, map: { type: 'string', multiple: true } },
  run: ({ values }, io) => guarded(io, 'import django', async () => {
    const url = stringOption(values.from);
    if (!url) throw new CliError('--from <postgres URL of the Django database> is required', 2);
    const map = Array.isArray(values.map) ? values.map.filter((m): m is string => typeof m === 'string') : [];
    let source: DjangoSource;
    try {
      source = await DjangoSource.open({ url, table: stringOption(values.table) ?? 'auth_user', columns: parseColumnMap(map) });
    } catch (e) {
      if (e instanceof DjangoSourceError) throw new CliError(e.message, 2);
      throw e;
    }
    try {
      const roles = roleMapping(values);
      const total = await source.count();
      io.err.write(`reading ${total.toLocaleString('en-US')} users; columns: ${Object.entries(source.columns).map(([f, c]) => (f === c ? f : `${f}=${c}`)).join(', ')}\n`);
      async function* items(): AsyncGenerator<SourceItem> {
        for await (const row of source.users()) yield fromDjango(row, roles);
      }
      return await importFrom(io, values, 'django', total, items());
    } finally {
      await source.close();
    }
  }),
};

export const importJsonlCommand: CliCommand = {
  name: 'import jsonl',
  summary: 'Import users and password hashes from a JSON Lines file',
  usage: `Usage: authstream import jsonl <file | -> [options]

One user a line: { "id", "email", "phone", "first_name", "last_name", "password",
"is_active", "is_staff", "is_superuser", "roles", "email_verified", "phone_verified",
"date_joined", "last_login" } (only id, a password (may be null) and an email or a phone
are needed), or Django's dumpdata shape { "model", "pk", "fields": { … } }. "password"
is the hash as Django stores it. "-" reads standard input.

${COMMON_USAGE}`,
  options: COMMON_OPTIONS,
  run: ({ values, positionals }, io) => guarded(io, 'import jsonl', async () => {
    const path = positionals[0];
    if (path === undefined || positionals.length > 1) throw new CliError('one file (or -) is required', 2);
    const input = path === '-' ? process.stdin : createReadStream(path, { encoding: 'utf8' });
    const opened = new Promise<void>((resolve, reject) => {
      if (path === '-') return resolve();
      input.once('open', () => resolve());
      input.once('error', (e: Error) => reject(new CliError(`cannot read ${path}: ${e.message}`)));
    });
    await opened;
    const roles = roleMapping(values);
    async function* items(): AsyncGenerator<SourceItem> {
      for await (const line of createInterface({ input, crlfDelay: Infinity })) {
        const item = parseJsonLine(line, roles);
        if (item !== null) yield item;
      }
    }
    return importFrom(io, values, 'jsonl', null, items());
  }),
};
