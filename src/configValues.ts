/** Reading one setting from the environment: a bad value is a ConfigError naming it. */
import { readFileSync } from 'node:fs';

export class ConfigError extends Error {
  readonly setting: string;
  constructor(setting: string, message: string) {
    super(`${setting}: ${message}`);
    this.name = 'ConfigError';
    this.setting = setting;
  }
}

export type Env = Record<string, string | undefined>;

export function int(env: Env, name: string, fallback: number, min: number, max: number): number {
  const raw = env[name];
  if (raw === undefined || raw.trim() === '') return fallback;
  if (!/^\d+$/.test(raw.trim())) throw new ConfigError(name, `must be a whole number from ${min} to ${max}, got "${raw}"`);
  const n = Number(raw.trim());
  if (n < min || n > max) throw new ConfigError(name, `must be from ${min} to ${max}, got ${n}`);
  return n;
}

export function bool(env: Env, name: string, fallback: boolean): boolean {
  const raw = env[name]?.trim().toLowerCase();
  if (raw === undefined || raw === '') return fallback;
  if (['true', '1', 'yes', 'on'].includes(raw)) return true;
  if (['false', '0', 'no', 'off'].includes(raw)) return false;
  throw new ConfigError(name, `must be true or false, got "${env[name]}"`);
}

export function url(env: Env, name: string, protocols: string[]): string | undefined {
  const raw = env[name]?.trim();
  if (!raw) return undefined;
  let u: URL;
  try {
    u = new URL(raw);
  } catch {
    throw new ConfigError(name, 'is not a valid URL');
  }
  if (!protocols.includes(u.protocol)) throw new ConfigError(name, `must start with ${protocols.map((p) => `${p}//`).join(' or ')}`);
  return raw;
}

/**
 * Settings that may come from a file, as Docker and Kubernetes secrets are mounted:
 * `NAME_FILE=/run/secrets/name` holds NAME's value (one trailing newline dropped).
 */
export const FILE_SETTINGS = [
  'MASTER_KEY', 'DATABASE_URL', 'JWT_PRIVATE_KEY', 'BOOTSTRAP_ADMIN_PASSWORD', 'SMTP_URL', 'SMS_WEBHOOK_TOKEN', 'REDIS_URL', 'EVENTSTORE_URL',
] as const;

/** `env` with every NAME_FILE read into NAME; a file that cannot be read stops start-up naming it. */
export function withFileSettings(env: Env): Env {
  let out = env;
  for (const name of FILE_SETTINGS) {
    const path = env[`${name}_FILE`]?.trim();
    if (!path) continue;
    if (env[name]?.trim()) throw new ConfigError(`${name}_FILE`, `is set and so is ${name}: keep one`);
    let value: string;
    try {
      value = readFileSync(path, 'utf8').replace(/\r?\n$/, '');
    } catch (e) {
      throw new ConfigError(`${name}_FILE`, `cannot read ${path} (${(e as { code?: string }).code ?? 'error'})`);
    }
    if (value.trim() === '') throw new ConfigError(`${name}_FILE`, `${path} is empty`);
    if (out === env) out = { ...env };
    out[name] = value;
  }
  return out;
}
