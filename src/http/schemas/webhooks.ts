/** Bodies and views of /v1/admin/webhooks (routes/admin/webhooks.ts). Never the secret, but once on creation. */
import { Type } from '@sinclair/typebox';

const Url = Type.String({ maxLength: 2048, description: 'https (http only to loopback, with WEBHOOKS_ALLOW_HTTP=true)' });
const EventTypes = Type.Array(Type.String({ maxLength: 100 }), { maxItems: 100, description: 'event type names, or ["*"] for all' });
const Description = Type.String({ maxLength: 500 });

export const WebhookParams = Type.Object({ id: Type.String({ maxLength: 100 }) });

export const CreateWebhookBody = Type.Object({
  url: Url,
  event_types: EventTypes,
  description: Type.Optional(Description),
}, { additionalProperties: false });

export const PatchWebhookBody = Type.Object({
  url: Type.Optional(Url),
  event_types: Type.Optional(EventTypes),
  description: Type.Optional(Description),
  status: Type.Optional(Type.Union([Type.Literal('enabled'), Type.Literal('disabled')])),
}, { additionalProperties: false });

export const ReplayBody = Type.Object({
  after_position: Type.String({ pattern: '^[0-9]{1,19}$', description: 'deliver again every matching event after this position ("0": all since creation)' }),
}, { additionalProperties: false });

export const WebhookView = Type.Object({
  id: Type.String(),
  url: Type.String(),
  event_types: Type.Array(Type.String()),
  description: Type.String(),
  status: Type.Union([Type.Literal('enabled'), Type.Literal('disabled')]),
  disabled_reason: Type.Union([Type.Null(), Type.String()], { description: '"admin", or "failing" when it was disabled after failing for too long' }),
  created_at: Type.String({ format: 'date-time' }),
  updated_at: Type.String({ format: 'date-time' }),
});

export const CreatedWebhookView = Type.Composite([WebhookView, Type.Object({
  secret: Type.String({ description: 'whsec_…: the signing secret, shown this once' }),
})]);

export const WebhookList = Type.Object({ webhooks: Type.Array(WebhookView) });

export const DeliveryList = Type.Object({
  deliveries: Type.Array(Type.Object({
    event_id: Type.String(),
    attempt: Type.Integer(),
    status_code: Type.Union([Type.Null(), Type.Integer()]),
    error: Type.Union([Type.Null(), Type.String()]),
    at: Type.String({ format: 'date-time' }),
    next_attempt_at: Type.Union([Type.Null(), Type.String({ format: 'date-time' })]),
  })),
});
