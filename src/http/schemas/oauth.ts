/**
 * Schemas of /oauth/*: requests are validated by them (a parameter given twice arrives as
 * an array and fails as invalid_request; unknown parameters are ignored, RFC 6749 §3.2),
 * responses serialised by them, and the OpenAPI document built from them.
 */
import { Type, type Static } from '@sinclair/typebox';

export const OAuthErrorBody = Type.Object({
  error: Type.String({ description: 'RFC 6749 §5.2 error code' }),
  error_description: Type.Optional(Type.String()),
}, { description: 'RFC 6749 §5.2 error response' });

export const oauthErrors = (...statuses: number[]) => Object.fromEntries(statuses.map((s) => [s, OAuthErrorBody]));

/** 403 of the password grant for a user with a second factor: redeem `mfa_token` with the mfa grant. */
export const MfaRequiredOAuthError = Type.Object({
  error: Type.String({ description: '`mfa_required`' }),
  error_description: Type.Optional(Type.String()),
  mfa_token: Type.Optional(Type.String({ description: 'single-use; with grant_type urn:authstream:params:oauth:grant-type:mfa' })),
  expires_in: Type.Optional(Type.Integer()),
  mfa_methods: Type.Optional(Type.Array(Type.String())),
}, { description: 'a second factor is required' });

/** An access token's shape (three base64url segments); refresh tokens never look like it. */
export const JWT_SHAPE = /^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+$/;

export const BODY_TYPES = ['application/x-www-form-urlencoded', 'application/json'];

export const TokenRequest = Type.Object({
  grant_type: Type.String({ description: '`password`, `refresh_token`, or `urn:authstream:params:oauth:grant-type:mfa` (the second step of a sign-in with a second factor)' }),
  mfa_token: Type.Optional(Type.String({ maxLength: 200, description: 'mfa grant: the ticket of the `mfa_required` error' })),
  otp: Type.Optional(Type.String({ maxLength: 20, description: 'mfa grant: a TOTP code' })),
  recovery_code: Type.Optional(Type.String({ maxLength: 40, description: 'mfa grant: a recovery code' })),
  username: Type.Optional(Type.String({ description: 'password grant: an email or a phone number' })),
  password: Type.Optional(Type.String({ maxLength: 10_000, description: 'password grant' })),
  refresh_token: Type.Optional(Type.String({ description: 'refresh_token grant' })),
  scope: Type.Optional(Type.String({ description: 'accepted and ignored: the service has no scopes' })),
  client_id: Type.Optional(Type.String({ description: 'accepted and ignored: public clients only' })),
}, { additionalProperties: true });

export const TokenResponse = Type.Object({
  access_token: Type.String(),
  token_type: Type.Literal('Bearer'),
  expires_in: Type.Integer(),
  refresh_token: Type.String(),
  scope: Type.Optional(Type.String()),
}, { description: 'RFC 6749 §5.1 access token response' });

export const TokenBody = Type.Object({
  token: Type.String(),
  token_type_hint: Type.Optional(Type.String({ description: '`access_token` or `refresh_token`; optional, tokens are told apart by shape' })),
  client_id: Type.Optional(Type.String()),
}, { additionalProperties: true });

export const IntrospectionResponse = Type.Object({
  active: Type.Boolean(),
  token_type: Type.Optional(Type.Union([Type.Literal('access_token'), Type.Literal('refresh_token')])),
  sub: Type.Optional(Type.String()),
  sid: Type.Optional(Type.String()),
  iat: Type.Optional(Type.Integer()),
  exp: Type.Optional(Type.Integer()),
  iss: Type.Optional(Type.String()),
  aud: Type.Optional(Type.String()),
  jti: Type.Optional(Type.String()),
  roles: Type.Optional(Type.Array(Type.String())),
  scope: Type.Optional(Type.String()),
}, { description: 'RFC 7662 §2.2; only `active` when the token is not active' });
export type Introspection = Static<typeof IntrospectionResponse>;
