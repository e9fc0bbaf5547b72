/** Bodies of the recovery and verification endpoints (routes/recovery.ts). */
import { Type } from '@sinclair/typebox';

const Token = Type.String({ maxLength: 1000, description: 'the token from the emailed link' });
const Code = Type.String({ maxLength: 100, description: 'the 6-digit code from the SMS' });
const NewPassword = Type.String({ description: '8 to 256 characters, not a common password' });

export const ForgotBody = Type.Object({
  email: Type.Optional(Type.String({ maxLength: 1000 })),
  phone: Type.Optional(Type.String({ maxLength: 100 })),
  identifier: Type.Optional(Type.String({ maxLength: 1000, description: 'an email or a phone number' })),
}, { additionalProperties: false });

export const ResetBody = Type.Object({
  token: Type.Optional(Token),
  phone: Type.Optional(Type.String({ maxLength: 100 })),
  code: Type.Optional(Code),
  new_password: NewPassword,
}, { additionalProperties: false });

export const VerifyEmailBody = Type.Object({ token: Token }, { additionalProperties: false });
export const VerifyPhoneBody = Type.Object({ code: Code }, { additionalProperties: false });

export const Accepted = Type.Object({ status: Type.Literal('accepted') });
