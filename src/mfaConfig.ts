/**
 * Second factors: the WebAuthn relying party (its id, name and the origins its pages are
 * served from), the TOTP issuer name, how long a sign-in ticket lasts, and the roles that
 * need a second factor from the start (admins change that at run time).
 */
import { ConfigError, type Env } from './configValues.js';

export interface MfaConfig {
  /** WEBAUTHN_RP_ID: the domain passkeys are bound to (default: PUBLIC_URL's host). */
  rpId: string;
  /** WEBAUTHN_RP_NAME: shown by authenticators (default: PRODUCT_NAME). */
  rpName: string;
  /** WEBAUTHN_ORIGINS: the origins of pages allowed to use the passkeys (default: PUBLIC_URL's origin). */
  origins: string[];
  /** MFA_ISSUER: the account's issuer in authenticator apps (default: PRODUCT_NAME). */
  totpIssuer: string;
  /** MFA_TICKET_TTL_SECONDS: how long the ticket of a sign-in waiting for its second factor lasts. */
  ticketTtlSeconds: number;
  /** MFA_REQUIRED_ROLES: the initial `mfa_required_roles` setting (comma-separated). */
  requiredRoles: string[];
}

export function mfaConfig(env: Env, publicUrl: string, productName: string, int: (name: string, def: number, min: number, max: number) => number): MfaConfig {
  const origins = (env.WEBAUTHN_ORIGINS?.trim() || new URL(publicUrl).origin).split(',').map((o) => o.trim()).filter(Boolean);
  for (const o of origins) {
    let parsed: URL;
    try {
      parsed = new URL(o);
    } catch {
      throw new ConfigError('WEBAUTHN_ORIGINS', `"${o}" is not an origin like https://app.example.com`);
    }
    if (parsed.origin !== o.replace(/\/+$/, '')) throw new ConfigError('WEBAUTHN_ORIGINS', `"${o}" is not an origin (scheme, host and port only)`);
  }
  const rpId = env.WEBAUTHN_RP_ID?.trim() || new URL(publicUrl).hostname;
  if (!/^[a-z0-9.-]+$/i.test(rpId)) throw new ConfigError('WEBAUTHN_RP_ID', 'must be a domain name like example.com');
  for (const o of origins) {
    const host = new URL(o).hostname;
    if (host !== rpId && !host.endsWith(`.${rpId}`)) {
      throw new ConfigError('WEBAUTHN_ORIGINS', `${o} is not on ${rpId} (WEBAUTHN_RP_ID) or one of its subdomains`);
    }
  }
  const requiredRoles = (env.MFA_REQUIRED_ROLES ?? '').split(',').map((r) => r.trim()).filter(Boolean);
  for (const r of requiredRoles) {
    if (!/^[a-z][a-z0-9_.:-]{0,63}$/.test(r)) throw new ConfigError('MFA_REQUIRED_ROLES', `"${r}" is not a role name`);
  }
  return {
    rpId,
    rpName: env.WEBAUTHN_RP_NAME?.trim() || productName,
    origins: origins.map((o) => o.replace(/\/+$/, '')),
    totpIssuer: env.MFA_ISSUER?.trim() || productName,
    ticketTtlSeconds: int('MFA_TICKET_TTL_SECONDS', 300, 30, 1800),
    requiredRoles,
  };
}
