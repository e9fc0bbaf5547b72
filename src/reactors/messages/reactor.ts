/**
 * The messages reactor: sends the link or code each reset or verification request asks
 * for, by email (SMTP) or SMS (webhook), and records what became of it on the user's
 * `messages-` stream (MessageSent, MessageFailed, MessageSkipped: never the token). The
 * token is written again from the request (infra/secrets.ts); a request that is no longer
 * the pending one (used, superseded, voided by a change, expired) or whose user is erased
 * or disabled sends nothing. A transient failure throws: the engine retries with backoff.
 */
import {
  messagesStream, userStream,
  type MessageChannel, type MessageEvent, type MessagePurpose, type MessageSkippedReason, type RecoveryEvent,
} from '../../domain/events.js';
import type { PendingPurpose } from '../../domain/user/recovery.js';
import { UserAggregate } from '../../domain/user/user.js';
import type { CommandDeps } from '../../commands/handle.js';
import { record } from '../../commands/handle.js';
import { load } from '../../commands/load.js';
import type { Decoded, EventContext } from '../../ports/events.js';
import { DeliveryError, type MailTransport, type SmsTransport } from '../../ports/messages.js';
import type { Reactor } from '../../ports/reactors.js';
import { linkWithToken, renderMail, renderSms } from './templates.js';

export interface MessagesOptions {
  mail: MailTransport;
  sms: SmsTransport;
  productName: string;
  passwordResetUrl: string;
  emailVerifyUrl: string;
}

type Request = Decoded<Extract<RecoveryEvent, { type: 'PasswordResetRequested' | 'EmailVerificationRequested' | 'PhoneVerificationRequested' }>>;

interface Ask {
  purpose: MessagePurpose;
  pending: PendingPurpose;
  channel: MessageChannel;
}

function askOf(e: Request): Ask {
  switch (e.type) {
    case 'PasswordResetRequested':
      return { purpose: 'password_reset', pending: 'reset', channel: e.data.channel === 'email' ? 'email' : 'sms' };
    case 'EmailVerificationRequested':
      return { purpose: 'email_verification', pending: 'email', channel: 'email' };
    case 'PhoneVerificationRequested':
      return { purpose: 'phone_verification', pending: 'phone', channel: 'sms' };
  }
}

export function messagesReactor(deps: CommandDeps, options: MessagesOptions): Reactor {
  const note = async (e: Request, event: MessageEvent): Promise<void> => {
    const ctx: EventContext = {
      now: new Date(), correlationId: e.metadata.correlation_id ?? e.id, causationId: e.id, actorId: null, requestId: null, ip: null, userAgent: null,
    };
    await record(deps, messagesStream(e.data.user_id), [event], ctx);
  };
  const skip = (e: Request, ask: Ask, reason: MessageSkippedReason) =>
    note(e, { type: 'MessageSkipped', data: { user_id: e.data.user_id, message_id: e.id, purpose: ask.purpose, reason } });

  return {
    name: 'messages',
    types: ['PasswordResetRequested', 'EmailVerificationRequested', 'PhoneVerificationRequested'],
    async react(event, attempt) {
      if (event.type !== 'PasswordResetRequested' && event.type !== 'EmailVerificationRequested' && event.type !== 'PhoneVerificationRequested') return;
      const e = event as Request;
      const ask = askOf(e);
      const { state: user } = await load(deps, userStream(e.data.user_id), UserAggregate);
      if (user.status === 'none' || user.status === 'erased') return skip(e, ask, 'erased');
      if (user.status === 'disabled') return skip(e, ask, 'disabled');
      const pending = user.pending[ask.pending];
      if (!pending) return skip(e, ask, 'used');
      if (pending.requestId !== e.data.request_id) return skip(e, ask, 'superseded');
      const leftMs = pending.expiresAt.getTime() - Date.now();
      if (leftMs <= 0) return skip(e, ask, 'expired');
      const to = ask.channel === 'email' ? user.email : user.phone;
      if (to === null) return skip(e, ask, 'no_address');
      const transport = ask.channel === 'email' ? options.mail : options.sms;
      if (transport.name === 'none') return skip(e, ask, 'not_delivered');

      const expiresInMinutes = Math.max(1, Math.round(leftMs / 60_000));
      const base = { user_id: user.id, message_id: e.id, purpose: ask.purpose, channel: ask.channel, attempt };
      try {
        if (ask.channel === 'email') {
          const purpose = ask.purpose === 'password_reset' ? 'password_reset' : 'email_verification';
          const link = linkWithToken(purpose === 'password_reset' ? options.passwordResetUrl : options.emailVerifyUrl,
            deps.secrets.linkToken(ask.purpose, user.id, pending.requestId));
          await options.mail.send({ id: e.id, to, ...renderMail(purpose, { productName: options.productName, link, expiresInMinutes }) });
        } else {
          const purpose = ask.purpose === 'password_reset' ? 'password_reset' : 'phone_verification';
          const code = deps.secrets.code(ask.purpose, user.id, pending.requestId);
          await options.sms.send({ id: e.id, to, body: renderSms(purpose, { productName: options.productName, code, expiresInMinutes }) });
        }
      } catch (error) {
        const failure = error instanceof DeliveryError ? error : new DeliveryError(`${error instanceof Error ? error.name : 'error'} while sending`, false);
        await note(e, { type: 'MessageFailed', data: { ...base, reason: failure.message.slice(0, 200), permanent: failure.permanent } });
        if (failure.permanent) return;
        throw failure;
      }
      await note(e, { type: 'MessageSent', data: base });
    },
  };
}
