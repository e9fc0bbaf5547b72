/** Admin commands on users: disable (revokes every session), enable, roles; settings. */
import { SETTINGS_STREAM, userStream, type SettingsValues } from '../domain/events.js';
import { decideChangeSettings, type Settings } from '../domain/settings/settings.js';
import { checkRole, decideDisable, decideEnable, decideGrantRole, decideRevokeRole } from '../domain/user/user.js';
import type { EventContext } from '../ports/events.js';
import { settingsAggregate } from '../domain/settings/settings.js';
import { UserAggregate } from '../domain/user/user.js';
import { handle, later, type CommandDeps } from './handle.js';
import { revokeSessions } from './sessions.js';

export async function disableUser(deps: CommandDeps, userId: string, ctx: EventContext): Promise<bigint | null> {
  const r = await handle(deps, userStream(userId), UserAggregate, decideDisable, ctx);
  const sessions = await deps.sessions.activeSessionIds(userId);
  return later(r.position, await revokeSessions(deps, sessions, 'user_disabled', ctx));
}

export async function enableUser(deps: CommandDeps, userId: string, ctx: EventContext): Promise<bigint | null> {
  return (await handle(deps, userStream(userId), UserAggregate, decideEnable, ctx)).position;
}

export async function grantRole(deps: CommandDeps, userId: string, role: string, ctx: EventContext): Promise<bigint | null> {
  checkRole(role);
  return (await handle(deps, userStream(userId), UserAggregate, (s) => decideGrantRole(s, role), ctx)).position;
}

export async function revokeRole(deps: CommandDeps, userId: string, role: string, ctx: EventContext): Promise<bigint | null> {
  checkRole(role);
  return (await handle(deps, userStream(userId), UserAggregate, (s) => decideRevokeRole(s, role), ctx)).position;
}

export async function changeSettings(
  deps: CommandDeps,
  defaults: SettingsValues,
  change: Partial<SettingsValues>,
  ctx: EventContext,
): Promise<{ settings: Settings; position: bigint | null }> {
  const r = await handle(deps, SETTINGS_STREAM, settingsAggregate(defaults), (s) => decideChangeSettings(s, change), ctx);
  return { settings: r.state, position: r.position };
}
