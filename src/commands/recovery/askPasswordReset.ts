/**
 * "I forgot my password": records the ask on the identifier's `recovery-` stream, whether
 * or not anyone holds the identifier, so the answer takes the same work, time and body
 * either way. The recovery reactor then looks for the holder and issues the reset
 * (reactors/recovery.ts). At most `maxRequests` asks per identifier within the window: the
 * rest get 429, alike for known and unknown identifiers.
 */
import { RateLimitedError } from '../../domain/errors.js';
import { recoveryStream, type PasswordResetAsked, type Recorded } from '../../domain/events.js';
import type { Aggregate } from '../../domain/decider.js';
import type { RecoveryPolicy } from '../../domain/user/recovery.js';
import type { EventContext } from '../../ports/events.js';
import { handle, type CommandDeps } from '../handle.js';
import type { Identifier } from '../identifiers.js';

/** The times of the newest asks (at most the policy's maximum). */
type Asks = readonly Date[];

const asksAggregate = (keep: number): Aggregate<Asks, PasswordResetAsked> => ({
  initial: () => [],
  evolve: (asks, e: Recorded<PasswordResetAsked>) => [...asks, e.occurredAt].slice(-keep),
});

export function decideAsk(asks: Asks, policy: RecoveryPolicy, kind: Identifier['kind'], now: Date): PasswordResetAsked[] {
  const windowMs = policy.windowSeconds * 1000;
  const recent = asks.filter((at) => at.getTime() > now.getTime() - windowMs);
  if (recent.length >= policy.maxRequests) {
    const freeAt = (recent[recent.length - policy.maxRequests] as Date).getTime() + windowMs;
    throw new RateLimitedError(Math.max(1, Math.ceil((freeAt - now.getTime()) / 1000)), 'too many reset requests for this identifier; try again later');
  }
  return [{ type: 'PasswordResetAsked', data: { kind } }];
}

export async function askPasswordReset(deps: CommandDeps, identifier: Identifier, ctx: EventContext): Promise<bigint | null> {
  const stream = recoveryStream(deps.secrets.identifierHash(identifier.kind, identifier.value));
  const r = await handle(deps, stream, asksAggregate(deps.recovery.maxRequests),
    (asks) => decideAsk(asks, deps.recovery, identifier.kind, ctx.now), { ...ctx, actorId: null }, {
      attempts: 8,
      // Lost every retry to simultaneous asks for one identifier: too many at once.
      exhausted: () => new RateLimitedError(1, 'too many reset requests for this identifier; try again later'),
    });
  return r.position;
}
