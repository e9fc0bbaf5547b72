/**
 * What read models forget of an erased user beyond the sealed fields: the network data
 * (ip, user agent) of their rows. One rule, applied by every read model that keeps it.
 */
import type { SqlExecutor } from '../ports/sql.js';

/** Clears `ip` and `user_agent` of the users' rows in `table` (a read model's table name). */
export async function forgetNetworkData(tx: SqlExecutor, table: string, userIds: readonly string[]): Promise<void> {
  if (userIds.length === 0) return;
  await tx.query(
    `update ${table} set ip = null, user_agent = null
     where user_id = any($1::uuid[]) and (ip is not null or user_agent is not null)`,
    [userIds]);
}
