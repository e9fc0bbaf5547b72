/**
 * Bootstrap admin: creates  the first admin from configuration if no admin exists yet, or
 * grants the role to the bootstrap account if it exists without it. Idempotent: running it
 * at every start changes nothing once an admin exists.
 */
import { randomUUID } from 'node:crypto';
import type { Runtime } from './runtime.js';
import { normaliseEmail } from '../policy/identifiers.js';
import { grantRole } from '../commands/admin.js';
import { holderOf } from '../commands/identifiers.js';
import { createUser } from '../commands/registerUser.js';
import type { EventContext } from '../ports/events.js';

export type BootstrapOutcome = 'admin_exists' | 'role_granted' | 'created';

export async function bootstrapAdmin(runtime: Runtime, email: string, password: string): Promise<BootstrapOutcome> {
  await runtime.readYourWrites(await runtime.store.lastPosition());
  const { rows } = await runtime.sql.query<{ id: string }>(
    `select id from authstream.users where 'admin' = any(roles) and status = 'active' limit 1`);
  if (rows.length > 0) return 'admin_exists';
  const ctx: EventContext = {
    now: new Date(), correlationId: randomUUID(), causationId: null, actorId: null,
    requestId: null, ip: null, userAgent: 'authstream bootstrap',
  };
  const id = { kind: 'email' as const, value: normaliseEmail(email, 'BOOTSTRAP_ADMIN_EMAIL') };
  const holder = await holderOf(runtime.deps, id);
  if (holder !== null) {
    await runtime.readYourWrites(await grantRole(runtime.deps, holder, 'admin', { ...ctx, actorId: holder }));
    return 'role_granted';
  }
  const { position } = await createUser(runtime.deps, { email, password, roles: ['user', 'admin'], vouched: true }, ctx);
  await runtime.readYourWrites(position);
  return 'created';
}
