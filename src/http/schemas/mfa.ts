/** Schemas of second factors: enrolment, the sign-in step-up, passkey sign-in, and the factor list. */
import { Type, type Static } from '@sinclair/typebox';
import { Nullable, Problem } from './common.js';

const DateTime = Type.String({ format: 'date-time' });
const Label = Type.String({ maxLength: 1000, description: 'a name for the factor, shown in lists (trimmed; at most 64 characters)' });
const Password = Type.String({ maxLength: 10_000, description: 'the current password: a fresh check' });
const TotpCode = Type.String({ maxLength: 20, description: 'the 6-digit code from the authenticator app', examples: ['492039'] });
const RecoveryCode = Type.String({ maxLength: 40, description: 'one of the recovery codes (case, spaces and dashes do not matter)', examples: ['7g2kq-x9m4d'] });
const WebAuthnJson = Type.Object({}, {
  additionalProperties: true,
  description: 'the PublicKeyCredential as JSON (W3C WebAuthn `toJSON()`, or @simplewebauthn/browser\'s output)',
});

export const MfaMethods = Type.Array(Type.Union([Type.Literal('totp'), Type.Literal('webauthn'), Type.Literal('recovery_code')]));

/** 403 from login and the password grant when a second factor is due (and account_disabled, identifier_unverified). */
export const MfaRequiredProblem = Type.Object({
  ...Problem.properties,
  mfa_ticket: Type.Optional(Type.String({ description: 'single-use; redeem it at POST /v1/auth/login/mfa before it expires' })),
  expires_in: Type.Optional(Type.Integer({ description: 'seconds the ticket is good for' })),
  mfa_methods: Type.Optional(MfaMethods),
  webauthn: Type.Optional(Nullable(Type.Object({}, {
    additionalProperties: true, description: 'PublicKeyCredentialRequestOptionsJSON for the user\'s passkeys (null: none)',
  }))),
}, {
  examples: [{
    type: 'https://authstream.dev/problems/mfa-required', title: 'Second factor required', status: 403,
    detail: 'the password was right; finish signing in with a second factor', code: 'mfa_required',
    mfa_ticket: 'mfa_9dXw…', expires_in: 300, mfa_methods: ['totp', 'recovery_code'], webauthn: null,
  }],
});

export const MfaLoginBody = Type.Object({
  mfa_ticket: Type.String({ maxLength: 200 }),
  code: Type.Optional(TotpCode),
  recovery_code: Type.Optional(RecoveryCode),
  webauthn: Type.Optional(WebAuthnJson),
}, {
  additionalProperties: false,
  description: 'the ticket and exactly one of code, recovery_code, webauthn',
  examples: [{ mfa_ticket: 'mfa_9dXw…', code: '492039' }],
});

export const PasswordBody = Type.Object({ password: Password }, { additionalProperties: false });
export const StartTotpBody = Type.Object({ password: Password, label: Type.Optional(Label) }, { additionalProperties: false });

export const StartedTotp = Type.Object({
  factor_id: Type.String({ format: 'uuid' }),
  secret: Type.String({ description: 'base32; for typing into an app that cannot scan' }),
  otpauth_uri: Type.String({ description: 'otpauth://totp/… (SHA1, 6 digits, 30 s)' }),
  qr_code: Type.String({ description: 'the URI as a QR code: a data:image/svg+xml;base64 URL, for an <img src>' }),
  expires_at: DateTime,
}, {
  examples: [{
    factor_id: '6f1c2d4e-8a7b-4c3d-9e0f-1a2b3c4d5e6f', secret: 'JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP',
    otpauth_uri: 'otpauth://totp/authstream:ada%40example.com?secret=JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP&issuer=authstream&algorithm=SHA1&digits=6&period=30',
    qr_code: 'data:image/svg+xml;base64,PHN2Zy…', expires_at: '2026-12-03T10:10:00.000Z',
  }],
});

export const ConfirmTotpBody = Type.Object({ code: TotpCode }, { additionalProperties: false });
export const FactorParams = Type.Object({ id: Type.String({ maxLength: 100 }) });

export const Factor = Type.Object({
  id: Type.String({ format: 'uuid' }),
  type: Type.Union([Type.Literal('totp'), Type.Literal('webauthn')]),
  label: Type.String(),
  created_at: DateTime,
  last_used_at: Nullable(DateTime),
  transports: Type.Optional(Type.Array(Type.String())),
  backed_up: Type.Optional(Type.Boolean({ description: 'webauthn: a synced (multi-device) passkey' })),
});
export type FactorT = Static<typeof Factor>;

export const AddedFactor = Type.Object({
  factor: Factor,
  recovery_codes: Nullable(Type.Array(Type.String(), {
    description: 'with the first factor only: ten single-use codes, shown this once',
  })),
});

export const FactorList = Type.Object({
  factors: Type.Array(Factor),
  recovery_codes_left: Type.Integer(),
  recovery_codes_generated_at: Nullable(DateTime),
});

export const RemoveFactorBody = Type.Object({
  password: Type.Optional(Password),
  code: Type.Optional(TotpCode),
  recovery_code: Type.Optional(RecoveryCode),
}, { additionalProperties: false, description: 'removing the last factor needs one of these' });

export const RecoveryCodes = Type.Object({ recovery_codes: Type.Array(Type.String()) });

export const WebAuthnOptions = Type.Object({
  webauthn: Type.Object({}, { additionalProperties: true, description: 'options for navigator.credentials.create() / .get(), as JSON' }),
});
export const PasskeyBody = Type.Object({ webauthn: WebAuthnJson, label: Type.Optional(Label) }, { additionalProperties: false });
export const PasskeyLoginBody = Type.Object({ webauthn: WebAuthnJson }, { additionalProperties: false });
