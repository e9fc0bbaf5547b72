/**
 * Physical names of read-model tables. Every read model lives in schema `authstream`;
 * a projection names its tables through a `TableNamer`, so the same setup and apply code
 * builds either the live tables or the shadow tables of a rebuild.
 */
import type { TableNamer } from '../../ports/projections.js';

export type { TableNamer } from '../../ports/projections.js';

export const READ_MODEL_SCHEMA = 'authstream';

const IDENTIFIER = /^[a-z_][a-z0-9_]{0,40}$/;

function checked(base: string): string {
  if (!IDENTIFIER.test(base)) throw new RangeError(`invalid read-model table name ${JSON.stringify(base)}`);
  return base;
}

export const SHADOW_SUFFIX = '__rebuild';
export const RETIRED_SUFFIX = '__old';

/** `users` → `authstream.users`. */
export const liveTable: TableNamer = (base) => `${READ_MODEL_SCHEMA}.${checked(base)}`;

/** `users` → `authstream.users__rebuild`: where a rebuild replays before the swap. */
export const shadowTable: TableNamer = (base) => `${READ_MODEL_SCHEMA}.${checked(base)}${SHADOW_SUFFIX}`;

/** The unqualified part of a qualified table name. */
export function unqualified(table: string): string {
  const dot = table.lastIndexOf('.');
  return dot < 0 ? table : table.slice(dot + 1);
}

/**
 * An index name derived from its table's physical name (`users__rebuild_email_idx` for
 * the shadow), so live and shadow indexes never collide. After a swap the rebuild renames
 * the shadow's indexes back to the live names.
 */
export function indexName(table: string, suffix: string): string {
  return `${unqualified(table)}_${checked(suffix)}_idx`;
}
