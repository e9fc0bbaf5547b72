/**
 * Reads the users of a Django project's database (PostgreSQL): `auth_user`, or a custom
 * user model's table, whose columns are found by their Django names or mapped by the
 * operator (`email=email_address`). Read-only, in primary-key order, a page at a time
 * (keyset pagination), so a table of millions streams in constant memory.
 */
import pg from 'pg';
import type { DjangoFields } from '../../commands/import/django.js';

export const DJANGO_FIELDS = [
  'id', 'email', 'phone', 'first_name', 'last_name', 'password', 'is_active', 'is_staff', 'is_superuser', 'date_joined', 'last_login',
] as const;
export type DjangoField = (typeof DJANGO_FIELDS)[number];

/** Other column names custom user models commonly give a field. */
const ALIASES: Partial<Record<DjangoField, readonly string[]>> = {
  phone: ['phone_number', 'mobile', 'mobile_number', 'phone'],
  email: ['email', 'email_address'],
};

const NAME = /^[A-Za-z_][A-Za-z0-9_$]{0,62}$/;
const quote = (name: string): string => `"${name}"`;

export class DjangoSourceError extends Error {}

export interface DjangoSourceOptions {
  url: string;
  /** `table` or `schema.table`; default auth_user. */
  table?: string;
  /** Field → column, for columns not named as Django names them. */
  columns?: Partial<Record<DjangoField, string>>;
  pageSize?: number;
}

export class DjangoSource {
  readonly #client: pg.Client;
  readonly #schema: string;
  readonly #table: string;
  readonly #pageSize: number;
  #columns: Partial<Record<DjangoField, string>> = {};

  private constructor(client: pg.Client, schema: string, table: string, pageSize: number) {
    this.#client = client;
    this.#schema = schema;
    this.#table = table;
    this.#pageSize = pageSize;
  }

  static async open(options: DjangoSourceOptions): Promise<DjangoSource> {
    const [schema, table] = splitTable(options.table ?? 'auth_user');
    const client = new pg.Client({ connectionString: options.url, application_name: 'authstream import' });
    try {
      await client.connect();
    } catch (e) {
      throw new DjangoSourceError(`cannot connect to the Django database: ${e instanceof Error ? e.message : String(e)}`);
    }
    const source = new DjangoSource(client, schema, table, options.pageSize ?? 1000);
    try {
      await source.#resolveColumns(options.columns ?? {});
      return source;
    } catch (e) {
      await client.end().catch(() => {});
      throw e;
    }
  }

  /** Which column each field is read from (for the operator to check). */
  get columns(): Readonly<Partial<Record<DjangoField, string>>> {
    return this.#columns;
  }

  async #resolveColumns(mapped: Partial<Record<DjangoField, string>>): Promise<void> {
    const { rows } = await this.#client.query<{ column_name: string }>(
      `select column_name from information_schema.columns where table_schema = $1 and table_name = $2`, [this.#schema, this.#table]);
    if (rows.length === 0) throw new DjangoSourceError(`no table ${this.#schema}.${this.#table} in the Django database (see --table)`);
    const present = new Set(rows.map((r) => r.column_name));
    const columns: Partial<Record<DjangoField, string>> = {};
    for (const field of DJANGO_FIELDS) {
      const wanted = mapped[field];
      if (wanted !== undefined) {
        if (!present.has(wanted)) throw new DjangoSourceError(`--map ${field}=${wanted}: the table has no column ${wanted}`);
        columns[field] = wanted;
        continue;
      }
      const found = [field, ...(ALIASES[field] ?? [])].find((c) => present.has(c));
      if (found !== undefined) columns[field] = found;
    }
    if (columns.id === undefined) throw new DjangoSourceError('the table has no id column (map its primary key with --map id=<column>)');
    if (columns.email === undefined && columns.phone === undefined) {
      throw new DjangoSourceError('the table has neither an email nor a phone column (map one with --map email=<column> or phone=<column>)');
    }
    if (columns.password === undefined) throw new DjangoSourceError('the table has no password column (map it with --map password=<column>)');
    this.#columns = columns;
  }

  async count(): Promise<number> {
    const { rows } = await this.#client.query<{ n: string }>(`select count(*)::text as n from ${this.#from()}`);
    return Number(rows[0]?.n ?? 0);
  }

  async *users(): AsyncGenerator<DjangoFields> {
    const entries = Object.entries(this.#columns) as Array<[DjangoField, string]>;
    const select = entries.map(([field, column]) => `${quote(column)} as ${quote(field)}`).join(', ');
    const id = quote(this.#columns.id as string);
    let after: unknown = undefined;
    for (;;) {
      const { rows } = after === undefined
        ? await this.#client.query<DjangoFields>(`select ${select} from ${this.#from()} order by ${id} limit $1`, [this.#pageSize])
        : await this.#client.query<DjangoFields>(
          `select ${select} from ${this.#from()} where ${id} > $1 order by ${id} limit $2`, [after, this.#pageSize]);
      for (const row of rows) yield row;
      if (rows.length < this.#pageSize) return;
      after = rows[rows.length - 1]?.id;
    }
  }

  #from(): string {
    return `${quote(this.#schema)}.${quote(this.#table)}`;
  }

  async close(): Promise<void> {
    await this.#client.end().catch(() => {});
  }
}

function splitTable(name: string): [string, string] {
  const parts = name.split('.');
  const [schema, table] = parts.length === 2 ? parts as [string, string] : ['public', parts[0] ?? ''];
  if (parts.length > 2 || !NAME.test(schema) || !NAME.test(table)) {
    throw new DjangoSourceError(`--table ${name}: a table name, or schema.table (letters, digits, _)`);
  }
  return [schema, table];
}

/** `--map field=column` options. */
export function parseColumnMap(entries: readonly string[]): Partial<Record<DjangoField, string>> {
  const out: Partial<Record<DjangoField, string>> = {};
  for (const entry of entries) {
    const [field, column, ...rest] = entry.split('=');
    if (rest.length > 0 || field === undefined || column === undefined || !(DJANGO_FIELDS as readonly string[]).includes(field) || !NAME.test(column)) {
      throw new DjangoSourceError(`--map ${entry}: expected <field>=<column>, field one of ${DJANGO_FIELDS.join(', ')}`);
    }
    out[field as DjangoField] = column;
  }
  return out;
}
