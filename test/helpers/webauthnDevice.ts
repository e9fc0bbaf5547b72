/**
 * A software WebAuthn authenticator for HTTP tests: what a browser and a platform
 * authenticator would send back for given options, built by hand (CBOR, authenticator
 * data, ES256 signatures with node:crypto), with knobs to send back what an attacker or a
 * broken device would: another origin, no user verification, a counter that does not move,
 * a signature over something else.
 */
import { createHash, generateKeyPairSync, randomBytes, sign, type KeyObject } from 'node:crypto';

type Cbor = number | string | Uint8Array | Cbor[] | Map<number | string, Cbor>;

function head(major: number, n: number): Buffer {
  if (n < 24) return Buffer.from([(major << 5) | n]);
  if (n < 0x100) return Buffer.from([(major << 5) | 24, n]);
  if (n < 0x10000) return Buffer.from([(major << 5) | 25, n >> 8, n & 0xff]);
  const b = Buffer.alloc(5);
  b[0] = (major << 5) | 26;
  b.writeUInt32BE(n, 1);
  return b;
}

/** RFC 8949 encoding of the few types WebAuthn needs (map keys in the order given). */
export function cbor(value: Cbor): Buffer {
  if (typeof value === 'number') return value >= 0 ? head(0, value) : head(1, -1 - value);
  if (typeof value === 'string') {
    const text = Buffer.from(value, 'utf8');
    return Buffer.concat([head(3, text.length), text]);
  }
  if (value instanceof Uint8Array) return Buffer.concat([head(2, value.length), value]);
  if (Array.isArray(value)) return Buffer.concat([head(4, value.length), ...value.map(cbor)]);
  return Buffer.concat([head(5, value.size), ...[...value].flatMap(([k, v]) => [cbor(k), cbor(v)])]);
}

const b64 = (b: Uint8Array): string => Buffer.from(b).toString('base64url');
const sha256 = (b: Uint8Array | string): Buffer => createHash('sha256').update(b).digest();

interface Credential {
  id: Buffer;
  key: KeyObject;
  userHandle: string;
  rpId: string;
  counter: number;
}

export interface Tweaks {
  origin?: string;
  /** The user-verified flag (default true). */
  userVerified?: boolean;
  /** Keep the signature counter where it was (a cloned authenticator). */
  sameCounter?: boolean;
  /** Sign something other than what is sent. */
  badSignature?: boolean;
  /** Put this challenge (base64url) in the client data instead of the one asked for. */
  challenge?: string;
  /** Use this credential (default: the first allowed, else the newest). */
  credentialId?: string;
}

type Options = Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any

export class WebAuthnDevice {
  readonly #credentials: Credential[] = [];
  readonly #origin: string;

  constructor(origin: string) {
    this.#origin = origin;
  }

  get credentialIds(): string[] {
    return this.#credentials.map((c) => b64(c.id));
  }

  #flags(userVerified: boolean, attested: boolean): number {
    return 0x01 | (userVerified ? 0x04 : 0) | (attested ? 0x40 : 0);
  }

  #clientData(type: string, options: Options, t: Tweaks): Buffer {
    return Buffer.from(JSON.stringify({
      type, challenge: t.challenge ?? options.challenge, origin: t.origin ?? this.#origin, crossOrigin: false,
    }));
  }

  /** navigator.credentials.create() with these creation options, as RegistrationResponseJSON. */
  create(options: Options, t: Tweaks = {}): Options {
    const { privateKey, publicKey } = generateKeyPairSync('ec', { namedCurve: 'prime256v1' });
    const jwk = publicKey.export({ format: 'jwk' });
    const id = randomBytes(32);
    const rpId = options.rp.id as string;
    const credential: Credential = { id, key: privateKey, userHandle: options.user.id as string, rpId, counter: 1 };
    const cose = cbor(new Map<number, Cbor>([
      [1, 2], [3, -7], [-1, 1], [-2, Buffer.from(jwk.x as string, 'base64url')], [-3, Buffer.from(jwk.y as string, 'base64url')],
    ]));
    const counter = Buffer.alloc(4);
    counter.writeUInt32BE(credential.counter);
    const idLength = Buffer.alloc(2);
    idLength.writeUInt16BE(id.length);
    const authData = Buffer.concat([
      sha256(rpId), Buffer.from([this.#flags(t.userVerified ?? true, true)]), counter, Buffer.alloc(16), idLength, id, cose,
    ]);
    this.#credentials.push(credential);
    return {
      id: b64(id), rawId: b64(id), type: 'public-key', authenticatorAttachment: 'platform', clientExtensionResults: {},
      response: {
        clientDataJSON: b64(this.#clientData('webauthn.create', options, t)),
        attestationObject: b64(cbor(new Map<string, Cbor>([['fmt', 'none'], ['attStmt', new Map()], ['authData', authData]]))),
        transports: ['internal'],
      },
    };
  }

  /** navigator.credentials.get() with these request options, as AuthenticationResponseJSON. */
  get(options: Options, t: Tweaks = {}): Options {
    const allowed = ((options.allowCredentials ?? []) as { id: string }[]).map((c) => c.id);
    const wanted = t.credentialId ?? allowed.find((id) => this.credentialIds.includes(id));
    const credential = wanted === undefined
      ? this.#credentials.at(-1)
      : this.#credentials.find((c) => b64(c.id) === wanted);
    if (!credential) throw new Error('no credential for these options');
    if (!t.sameCounter) credential.counter += 1;
    const counter = Buffer.alloc(4);
    counter.writeUInt32BE(credential.counter);
    const authData = Buffer.concat([sha256(options.rpId ?? credential.rpId), Buffer.from([this.#flags(t.userVerified ?? true, false)]), counter]);
    const clientData = this.#clientData('webauthn.get', options, t);
    const signed = Buffer.concat([authData, sha256(clientData)]);
    const signature = sign('sha256', t.badSignature ? Buffer.concat([signed, Buffer.from([0])]) : signed, credential.key);
    return {
      id: b64(credential.id), rawId: b64(credential.id), type: 'public-key', clientExtensionResults: {},
      response: {
        clientDataJSON: b64(clientData), authenticatorData: b64(authData), signature: b64(signature), userHandle: credential.userHandle,
      },
    };
  }
}
