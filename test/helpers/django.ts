/**
 * A PostgreSQL database shaped like a Django 3.2 project's: `auth_user` as Django's
 * migrations create it, and a custom user model keyed by email with a phone number
 * (`accounts_user`, AbstractBaseUser + PermissionsMixin, no username), filled with the
 * hashes real Django made (test/fixtures/django-hashes.json).
 */
import { readFileSync } from 'node:fs';
import pg from 'pg';

export interface DjangoVector {
  algorithm: string;
  encoded: string;
  password: string;
  wrong_password: string;
  django_check_password: boolean;
  django_check_wrong: boolean;
  note: string;
}

export const djangoVectors = (): { vectors: DjangoVector[]; unsupported: DjangoVector[] } =>
  JSON.parse(readFileSync(new URL('../fixtures/django-hashes.json', import.meta.url), 'utf8')) as { vectors: DjangoVector[]; unsupported: DjangoVector[] };

/** As `manage.py sqlmigrate auth 0012` leaves it on PostgreSQL (Django 3.2). */
export const AUTH_USER_DDL = `
create table auth_user (
  id serial not null primary key,
  password varchar(128) not null,
  last_login timestamp with time zone null,
  is_superuser boolean not null,
  username varchar(150) not null unique,
  first_name varchar(150) not null,
  last_name varchar(150) not null,
  email varchar(254) not null,
  is_staff boolean not null,
  is_active boolean not null,
  date_joined timestamp with time zone not null
)`;

/** A custom user model: USERNAME_FIELD = 'email', a phone number, a bigint id (DEFAULT_AUTO_FIELD). */
export const CUSTOM_USER_DDL = `
create table accounts_user (
  id bigserial not null primary key,
  password varchar(128) not null,
  last_login timestamp with time zone null,
  is_superuser boolean not null,
  email varchar(254) null unique,
  phone_number varchar(32) null unique,
  first_name varchar(150) not null,
  last_name varchar(150) not null,
  is_staff boolean not null,
  is_active boolean not null,
  date_joined timestamp with time zone not null
)`;

export interface DjangoUser {
  id?: number;
  username?: string;
  email: string | null;
  phone?: string | null;
  password: string;
  firstName?: string;
  lastName?: string;
  isActive?: boolean;
  isStaff?: boolean;
  isSuperuser?: boolean;
  dateJoined?: Date;
  lastLogin?: Date | null;
}

export async function createDjangoSchema(url: string): Promise<void> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    await client.query(AUTH_USER_DDL);
    await client.query(CUSTOM_USER_DDL);
  } finally {
    await client.end();
  }
}

export async function insertAuthUsers(url: string, users: readonly DjangoUser[]): Promise<void> {
  await insert(url, 'auth_user', users.map((u, i) => ({
    id: u.id ?? null, username: u.username ?? `user${i}-${Math.random().toString(36).slice(2, 8)}`, email: u.email ?? '',
    password: u.password, first_name: u.firstName ?? '', last_name: u.lastName ?? '', is_active: u.isActive ?? true,
    is_staff: u.isStaff ?? false, is_superuser: u.isSuperuser ?? false, date_joined: u.dateJoined ?? new Date('2018-03-04T05:06:07Z'),
    last_login: u.lastLogin ?? null,
  })));
}

export async function insertCustomUsers(url: string, users: readonly DjangoUser[]): Promise<void> {
  await insert(url, 'accounts_user', users.map((u) => ({
    id: u.id ?? null, email: u.email, phone_number: u.phone ?? null, password: u.password, first_name: u.firstName ?? '',
    last_name: u.lastName ?? '', is_active: u.isActive ?? true, is_staff: u.isStaff ?? false, is_superuser: u.isSuperuser ?? false,
    date_joined: u.dateJoined ?? new Date('2020-01-02T03:04:05Z'), last_login: u.lastLogin ?? null,
  })));
}

/** Rows in batches of one multi-row insert each (ids left out get the sequence's). */
async function insert(url: string, table: string, rows: ReadonlyArray<Record<string, unknown>>): Promise<void> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    for (let i = 0; i < rows.length; i += 1000) {
      const batch = rows.slice(i, i + 1000);
      const columns = Object.keys(batch[0] ?? {}).filter((c) => c !== 'id' || batch.every((r) => r.id !== null));
      const values: unknown[] = [];
      const tuples = batch.map((r) => `(${columns.map((c) => { values.push(r[c]); return `$${values.length}`; }).join(', ')})`);
      await client.query(`insert into ${table} (${columns.join(', ')}) values ${tuples.join(', ')}`, values);
    }
  } finally {
    await client.end();
  }
}
