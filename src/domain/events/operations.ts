/** Events of the service's own streams: messages sent, webhook endpoints, settings, parked events. */
import type { Ev } from './ev.js';

/// messages-<user_id>: what became of each message the messages reactor was asked to send

export type MessagePurpose = 'password_reset' | 'email_verification' | 'phone_verification';
export type MessageChannel = 'email' | 'sms';
export type MessageSent = Ev<'MessageSent', {
  user_id: string;
  /** The id of the event that asked for the message. */
  message_id: string;
  purpose: MessagePurpose;
  channel: MessageChannel;
  attempt: number;
}>;
export type MessageFailed = Ev<'MessageFailed', {
  user_id: string; message_id: string; purpose: MessagePurpose; channel: MessageChannel; attempt: number;
  /** Retried later unless permanent. Never holds an address, a token or the text. */
  reason: string;
  permanent: boolean;
}>;
export type MessageSkippedReason = 'superseded' | 'expired' | 'used' | 'erased' | 'disabled' | 'no_address' | 'not_delivered';
export type MessageSkipped = Ev<'MessageSkipped', {
  user_id: string; message_id: string; purpose: MessagePurpose; reason: MessageSkippedReason;
}>;
export type MessageEvent = MessageSent | MessageFailed | MessageSkipped;

/// webhook-<webhook_id>: an integrator's endpoint (no personal data; the secret sealed with a server key)

export type WebhookDisabledReason = 'admin' | 'failing';
export type WebhookCreated = Ev<'WebhookCreated', {
  webhook_id: string;
  url: string;
  /** Event type names, or ["*"] for all. */
  event_types: string[];
  description: string;
  /** The signing secret (whsec_…), sealed with a key derived from the master key. A secret: shown nowhere. */
  secret_sealed: string;
}>;
export type WebhookUpdated = Ev<'WebhookUpdated', { webhook_id: string; url: string; event_types: string[]; description: string }>;
export type WebhookDisabled = Ev<'WebhookDisabled', { webhook_id: string; reason: WebhookDisabledReason }>;
export type WebhookEnabled = Ev<'WebhookEnabled', { webhook_id: string }>;
export type WebhookDeleted = Ev<'WebhookDeleted', { webhook_id: string }>;
/** Deliver again every matching event after `after_position` (an admin's replay). */
export type WebhookReplayRequested = Ev<'WebhookReplayRequested', { webhook_id: string; after_position: string }>;
export type WebhookEvent = WebhookCreated | WebhookUpdated | WebhookDisabled | WebhookEnabled | WebhookDeleted | WebhookReplayRequested;

/// settings

export interface SettingsValues {
  access_token_ttl_seconds: number;
  refresh_token_ttl_seconds: number;
  sliding_access_tokens: boolean;
  /** Seconds a rotated refresh token may still be presented for a fresh pair (0: never). */
  refresh_reuse_grace_seconds: number;
  /** Roles a token carries only when its session was signed in with a second factor. */
  mfa_required_roles: string[];
}
export type SettingsChanged = Ev<'SettingsChanged', Partial<SettingsValues>>;
export type SettingsEvent = SettingsChanged;

/// parked-<position>: an event the read models could not apply, stepped over, and what an
/// admin did about it (no personal data)

export type EventParked = Ev<'EventParked', {
  /** The parked event's global position (decimal digits), id, type and stream. */
  position: string;
  event_id: string;
  event_type: string;
  stream_id: string;
  /** The error, with quoted values blanked. */
  reason: string;
}>;
/** An admin retried a parked event (applied: it went through) or skipped it. */
export type ParkedEventResolved = Ev<'ParkedEventResolved', { position: string; event_id: string; outcome: 'applied' | 'skipped' }>;
export type OperationsEvent = EventParked | ParkedEventResolved;
