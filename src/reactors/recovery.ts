/**
 * The recovery reactor: turns an ask for a password reset (PasswordResetAsked on an
 * identifier's `recovery-` stream) into a reset for the identifier's holder, if it has an
 * active one, after the ask was answered. The reset's request id is derived from the ask
 * with a server key: acting twice on one ask issues one reset, and nothing in the user's
 * stream names the ask (so an erased user stays unlinked from the identifier).
 */
import { hashOfStream, identifierStream, userStream } from '../domain/events.js';
import { ReservationAggregate } from '../domain/identifier/reservation.js';
import { UserAggregate } from '../domain/user/user.js';
import type { CommandDeps } from '../commands/handle.js';
import { load } from '../commands/load.js';
import { issuePasswordReset } from '../commands/recovery/issue.js';
import type { Reactor } from '../ports/reactors.js';

export function recoveryReactor(deps: CommandDeps): Reactor {
  return {
    name: 'recovery',
    types: ['PasswordResetAsked'],
    async react(event) {
      if (event.type !== 'PasswordResetAsked') return;
      const hash = hashOfStream(event.streamId);
      const { state: claim } = await load(deps, identifierStream(hash), ReservationAggregate);
      if (claim.status !== 'claimed' || claim.userId === null) return;
      const { state: user } = await load(deps, userStream(claim.userId), UserAggregate);
      if (user.status !== 'active') return;
      const value = event.data.kind === 'email' ? user.email : user.phone;
      if (value === null || deps.secrets.identifierHash(event.data.kind, value) !== hash) return;
      await issuePasswordReset(deps, { userId: user.id, requestId: deps.secrets.derivedId(`reset:${event.id}`), channel: event.data.kind }, {
        now: new Date(), correlationId: deps.secrets.derivedId(`correlation:${event.id}`), causationId: null,
        actorId: null, requestId: null, ip: null, userAgent: null,
      });
    },
  };
}
