/** The second-factor adapters, wired from the configuration and the master key. */
import type { Config } from '../config.js';
import type { MfaDeps } from '../commands/handle.js';
import { createMfaSecrets } from '../infra/mfa/tickets.js';
import { createOneTimeCodes } from '../infra/mfa/totp.js';
import { createPasskeys } from '../infra/mfa/passkeys.js';

export const mfaDeps = (config: Pick<Config, 'mfa'>, master: Buffer): MfaDeps => ({
  codes: createOneTimeCodes(config.mfa.totpIssuer),
  passkeys: createPasskeys(config.mfa),
  secrets: createMfaSecrets(master),
  ticketTtlSeconds: config.mfa.ticketTtlSeconds,
});
