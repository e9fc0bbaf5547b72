/**
 * WebAuthn ceremonies through @simplewebauthn/server: registration and authentication
 * options, and the verification of what the browser sends back, against the configured
 * relying-party id and origins. Responses are checked for shape here, so a malformed one
 * is a failed verification (never a 5xx). Attestation is not requested ('none'): a passkey
 * is trusted as the user's once they registered it with a fresh password check.
 */
import {
  generateAuthenticationOptions, generateRegistrationOptions, verifyAuthenticationResponse, verifyRegistrationResponse,
  type AuthenticationResponseJSON, type AuthenticatorTransportFuture, type RegistrationResponseJSON,
} from '@simplewebauthn/server';
import type { JsonOptions, Passkeys, StoredCredential } from '../../ports/mfa.js';

export interface RelyingParty {
  rpId: string;
  rpName: string;
  origins: string[];
}

const TIMEOUT_MS = 120_000;
const B64URL = /^[A-Za-z0-9_-]*={0,2}$/;
const UUID_HEX = /^[0-9a-f]{32}$/;

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);
const isB64 = (v: unknown, max = 8192): v is string => typeof v === 'string' && v.length > 0 && v.length <= max && B64URL.test(v);

function asRegistration(v: unknown): RegistrationResponseJSON | null {
  if (!isObject(v) || !isB64(v.id, 1400) || !isB64(v.rawId, 1400) || v.type !== 'public-key' || !isObject(v.response)) return null;
  const r = v.response;
  if (!isB64(r.clientDataJSON) || !isB64(r.attestationObject, 32_768)) return null;
  if (r.transports !== undefined && !(Array.isArray(r.transports) && r.transports.every((t) => typeof t === 'string'))) return null;
  return { clientExtensionResults: {}, ...v } as unknown as RegistrationResponseJSON;
}

function asAssertion(v: unknown): AuthenticationResponseJSON | null {
  if (!isObject(v) || !isB64(v.id, 1400) || !isB64(v.rawId, 1400) || v.type !== 'public-key' || !isObject(v.response)) return null;
  const r = v.response;
  if (!isB64(r.clientDataJSON) || !isB64(r.authenticatorData) || !isB64(r.signature)) return null;
  if (r.userHandle !== undefined && r.userHandle !== null && !isB64(r.userHandle, 128)) return null;
  return { clientExtensionResults: {}, ...v } as unknown as AuthenticationResponseJSON;
}

const transportsOf = (c: StoredCredential) => c.transports as AuthenticatorTransportFuture[];
const bytesOf = (b64: string): Uint8Array<ArrayBuffer> => new Uint8Array(Buffer.from(b64, 'base64url'));
const challengeCheck = (ok: (c: Uint8Array) => boolean) => (challenge: string): boolean => ok(new Uint8Array(Buffer.from(challenge, 'base64url')));

export function createPasskeys(rp: RelyingParty): Passkeys {
  return {
    async registrationOptions(c) {
      const options = await generateRegistrationOptions({
        rpName: rp.rpName, rpID: rp.rpId, userName: c.userName, userDisplayName: c.displayName,
        userID: bytesOf(Buffer.from(c.userId.replace(/-/g, ''), 'hex').toString('base64url')),
        challenge: new Uint8Array(c.challenge), timeout: TIMEOUT_MS, attestationType: 'none',
        excludeCredentials: c.exclude.map((x) => ({ id: x.credentialId, transports: transportsOf(x) })),
        authenticatorSelection: { residentKey: 'preferred', userVerification: 'preferred' },
      });
      return options as unknown as JsonOptions;
    },
    async verifyRegistration(response, challengeOk) {
      const parsed = asRegistration(response);
      if (!parsed) return null;
      try {
        const result = await verifyRegistrationResponse({
          response: parsed, expectedChallenge: challengeCheck(challengeOk), expectedOrigin: rp.origins, expectedRPID: rp.rpId,
          requireUserVerification: false,
        });
        if (!result.verified) return null;
        const info = result.registrationInfo;
        return {
          credentialId: info.credential.id, publicKey: Buffer.from(info.credential.publicKey).toString('base64url'),
          signCount: info.credential.counter, transports: (parsed.response.transports ?? []).slice(0, 8),
          deviceType: info.credentialDeviceType, backedUp: info.credentialBackedUp, aaguid: info.aaguid,
        };
      } catch {
        return null; // malformed CBOR, a wrong origin or challenge, an unsupported key: it does not verify
      }
    },
    async authenticationOptions(c) {
      const options = await generateAuthenticationOptions({
        rpID: rp.rpId, challenge: new Uint8Array(c.challenge), timeout: TIMEOUT_MS,
        userVerification: c.allow.length === 0 ? 'required' : 'preferred',
        allowCredentials: c.allow.map((x) => ({ id: x.credentialId, transports: transportsOf(x) })),
      });
      return options as unknown as JsonOptions;
    },
    async verifyAuthentication(response, credential, challengeOk, requireUserVerification) {
      const parsed = asAssertion(response);
      if (!parsed || parsed.id !== credential.credentialId) return null;
      try {
        const result = await verifyAuthenticationResponse({
          response: parsed, expectedChallenge: challengeCheck(challengeOk), expectedOrigin: rp.origins, expectedRPID: rp.rpId,
          credential: {
            id: credential.credentialId, publicKey: bytesOf(credential.publicKey), counter: credential.signCount,
            transports: transportsOf(credential),
          },
          requireUserVerification,
        });
        return result.verified ? { signCount: result.authenticationInfo.newCounter } : null;
      } catch {
        return null; // a counter gone backwards (a cloned authenticator), a bad signature, malformed data
      }
    },
    assertionSubject(response) {
      const parsed = asAssertion(response);
      if (!parsed) return null;
      const handle = parsed.response.userHandle;
      const hex = typeof handle === 'string' ? Buffer.from(handle, 'base64url').toString('hex') : '';
      const userId = UUID_HEX.test(hex) ? `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}` : null;
      return { credentialId: parsed.id, userId };
    },
  };
}
