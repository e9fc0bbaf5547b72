/**
 * Where webhooks may go. Saved URLs: absolute, no credentials, https (http only to a
 * loopback host when allowed), not a link-local, metadata, unspecified or multicast
 * address. At connect time every resolved address is checked again (a name may resolve
 * to a metadata address: DNS rebinding).
 */
import { isIP } from 'node:net';

export interface WebhookPolicy {
  /** http:// to loopback hosts (development, tests). */
  allowHttp: boolean;
  /** Link-local and metadata addresses. */
  allowPrivate: boolean;
}

const MAX_URL = 2048;
const METADATA = new Set(['169.254.169.254', '100.100.100.200', 'fd00:ec2::254']);

function v4(ip: string): number[] | null {
  const parts = ip.split('.').map(Number);
  return parts.length === 4 && parts.every((n) => Number.isInteger(n) && n >= 0 && n <= 255) ? parts : null;
}

function isLoopback(ip: string): boolean {
  const a = v4(ip);
  if (a) return a[0] === 127;
  return ip === '::1';
}

/** `::ffff:a.b.c.d` or `::ffff:xxxx:xxxx` (as URL parsing writes it) as the IPv4 address. */
function unmapped(ip: string): string {
  const dotted = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/.exec(ip);
  if (dotted?.[1]) return dotted[1];
  const hex = /^::ffff:([0-9a-f]{1,4}):([0-9a-f]{1,4})$/.exec(ip);
  if (!hex?.[1] || !hex[2]) return ip;
  const hi = parseInt(hex[1], 16);
  const lo = parseInt(hex[2], 16);
  return `${hi >> 8}.${hi & 255}.${lo >> 8}.${lo & 255}`;
}

/** An address a webhook must not reach under `policy`. IPv4-mapped IPv6 is judged as IPv4. */
export function isBlockedAddress(raw: string, policy: WebhookPolicy): boolean {
  const ip = unmapped(raw.toLowerCase().replace(/^\[|\]$/g, ''));
  if (isLoopback(ip)) return !policy.allowHttp;
  const a = v4(ip);
  const special = a
    ? a[0] === 0 || (a[0] === 169 && a[1] === 254) || (a[0] ?? 0) >= 224 || METADATA.has(ip)
    : ip === '::' || /^fe[89ab]/.test(ip) || /^ff/.test(ip) || METADATA.has(ip);
  return special && !policy.allowPrivate;
}

export function checkWebhookUrl(raw: string, policy: WebhookPolicy): { ok: true; url: URL } | { ok: false; reason: string } {
  if (raw.length > MAX_URL) return { ok: false, reason: `must be at most ${MAX_URL} characters` };
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    return { ok: false, reason: 'must be an absolute https URL' };
  }
  if (url.username || url.password) return { ok: false, reason: 'must not carry a user name or password' };
  const host = url.hostname.replace(/^\[|\]$/g, '');
  const loopback = host === 'localhost' || (isIP(host) !== 0 && isLoopback(unmapped(host.toLowerCase())));
  if (url.protocol === 'http:') {
    if (!policy.allowHttp) return { ok: false, reason: 'must be an https URL (http only with WEBHOOKS_ALLOW_HTTP=true, to loopback)' };
    if (!loopback) return { ok: false, reason: 'may be http only to a loopback host (127.0.0.1, ::1, localhost)' };
  } else if (url.protocol !== 'https:') {
    return { ok: false, reason: 'must be an https URL' };
  }
  if (isIP(host) !== 0 && !loopback && isBlockedAddress(host, policy)) {
    return { ok: false, reason: 'must not be a link-local, metadata, unspecified or multicast address' };
  }
  return { ok: true, url };
}
