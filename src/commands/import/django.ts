/**
 * Django's user fields (auth_user, or a custom user model mapped onto them) and the JSON
 * Lines form of a user, turned into an ImportRecord. `is_superuser` and `is_staff` become
 * roles (by default `admin` and `staff`: a Django staff user may use Django's admin site,
 * which is not an admin of this service), `is_active` the status.
 */
import type { SourceItem } from './run.js';

/** The fields a Django user has (any may be missing from a custom model). */
export interface DjangoFields {
  id: string | number;
  email?: string | null;
  phone?: string | null;
  first_name?: string | null;
  last_name?: string | null;
  password?: string | null;
  is_active?: boolean | null;
  is_staff?: boolean | null;
  is_superuser?: boolean | null;
  date_joined?: Date | string | null;
  last_login?: Date | string | null;
  /** JSON Lines only: roles as they are (replaces is_staff / is_superuser). */
  roles?: string[];
  email_verified?: boolean;
  phone_verified?: boolean;
}

export interface RoleMapping {
  /** The role of a superuser ('' for none); default 'admin'. */
  superuserRole?: string;
  /** The role of a staff user ('' for none); default 'staff'. */
  staffRole?: string;
}

export function fromDjango(f: DjangoFields, roles: RoleMapping = {}): SourceItem {
  const mapped: string[] = [];
  if (f.is_superuser === true && (roles.superuserRole ?? 'admin') !== '') mapped.push(roles.superuserRole ?? 'admin');
  if (f.is_staff === true && (roles.staffRole ?? 'staff') !== '') mapped.push(roles.staffRole ?? 'staff');
  return {
    sourceId: String(f.id),
    email: f.email ?? null,
    phone: f.phone ?? null,
    firstName: f.first_name ?? '',
    lastName: f.last_name ?? '',
    password: f.password ?? null,
    active: f.is_active !== false,
    roles: f.roles ?? mapped,
    emailVerified: f.email_verified === true,
    phoneVerified: f.phone_verified === true,
    joinedAt: f.date_joined ?? null,
    lastLoginAt: f.last_login ?? null,
  };
}

const STRINGS = ['email', 'phone', 'first_name', 'last_name', 'password', 'date_joined', 'last_login'] as const;
const BOOLEANS = ['is_active', 'is_staff', 'is_superuser', 'email_verified', 'phone_verified'] as const;

/**
 * One line of a JSON Lines import: a user object (docs/migrating-from-django.md), or the
 * shape of Django's `dumpdata` (`{ "model", "pk", "fields": {…} }`). Unknown keys are
 * ignored (a dump has many); a key of the wrong type makes the line unreadable.
 */
export function parseJsonLine(line: string, roles: RoleMapping = {}): SourceItem | null {
  if (line.trim() === '') return null;
  let value: unknown;
  try {
    value = JSON.parse(line);
  } catch {
    return { unreadable: 'not a JSON object', sourceId: null };
  }
  if (value === null || typeof value !== 'object' || Array.isArray(value)) return { unreadable: 'not a JSON object', sourceId: null };
  let o = value as Record<string, unknown>;
  if ('fields' in o && 'pk' in o && typeof o.fields === 'object' && o.fields !== null) o = { ...(o.fields as object), id: o.pk };
  const id = o.id;
  if (!((typeof id === 'string' && id !== '') || (typeof id === 'number' && Number.isSafeInteger(id)))) {
    return { unreadable: 'id must be a non-empty string or an integer', sourceId: null };
  }
  const sourceId = String(id);
  for (const k of STRINGS) if (o[k] !== undefined && o[k] !== null && typeof o[k] !== 'string') return { unreadable: `${k} must be a string or null`, sourceId };
  for (const k of BOOLEANS) if (o[k] !== undefined && o[k] !== null && typeof o[k] !== 'boolean') return { unreadable: `${k} must be true or false`, sourceId };
  if (o.roles !== undefined && !(Array.isArray(o.roles) && o.roles.every((r) => typeof r === 'string'))) {
    return { unreadable: 'roles must be a list of strings', sourceId };
  }
  return fromDjango(o as unknown as DjangoFields, roles);
}
