/**
 * The words of every message the service sends: one table of strings per purpose, with
 * {product}, {duration} and {code} placeholders so a translation is a second table later.
 * Pure rendering, no I/O; every value that lands in HTML is escaped (text and attributes).
 */

export type MailPurpose = 'password_reset' | 'email_verification';
export type SmsPurpose = 'password_reset' | 'phone_verification';

interface MailStrings {
  subject: string;
  greeting: string;
  intro: string;
  expiry: string;
  ignore: string;
  signature: string;
}

const MAIL: Record<MailPurpose, MailStrings> = {
  password_reset: {
    subject: 'Reset your {product} password',
    greeting: 'Hello,',
    intro: 'Someone, hopefully you, asked to reset the password of your {product} account. To choose a new password, open this link:',
    expiry: 'The link can be used once and expires in {duration}.',
    ignore: 'If you did not ask for this, ignore this email: your password stays as it is.',
    signature: '{product}',
  },
  email_verification: {
    subject: 'Confirm your email address for {product}',
    greeting: 'Hello,',
    intro: 'To confirm that this email address belongs to your {product} account, open this link:',
    expiry: 'The link expires in {duration}.',
    ignore: 'If you did not sign up for {product}, ignore this email.',
    signature: '{product}',
  },
};

const SMS: Record<SmsPurpose, string> = {
  password_reset: '{code} is your {product} password reset code. It expires in {duration}. Do not share it with anyone.',
  phone_verification: '{code} is your {product} verification code. It expires in {duration}.',
};

type Vars = Record<string, string>;

/** Replaces each {name} with its value; unknown names stay as written. */
function fill(template: string, vars: Vars): string {
  return template.replace(/\{(\w+)\}/g, (whole, name: string) => vars[name] ?? whole);
}

/** "1 minute", "15 minutes", "1 hour", "2 hours" (whole hours only). */
function duration(minutes: number): string {
  if (minutes >= 60 && minutes % 60 === 0) return minutes === 60 ? '1 hour' : `${minutes / 60} hours`;
  return minutes === 1 ? '1 minute' : `${minutes} minutes`;
}

const HTML_ESCAPES: Record<string, string> = { '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' };

/** Safe in element text and in quoted attribute values. */
function escapeHtml(s: string): string {
  return s.replace(/[&<>"']/g, (c) => HTML_ESCAPES[c] ?? c);
}

export function renderMail(
  purpose: MailPurpose,
  p: { productName: string; link: string; expiresInMinutes: number },
): { subject: string; text: string; html: string } {
  const vars = { product: p.productName, duration: duration(p.expiresInMinutes) };
  const s = MAIL[purpose];
  const say = (line: string) => fill(line, vars);
  const text = [say(s.greeting), '', say(s.intro), '', p.link, '', say(s.expiry), say(s.ignore), '', `-- ${say(s.signature)}`, '']
    .join('\n');
  const e = (line: string) => escapeHtml(say(line));
  const link = escapeHtml(p.link);
  const html = [
    '<!doctype html>',
    '<html><body>',
    `<p>${e(s.greeting)}</p>`,
    `<p>${e(s.intro)}</p>`,
    `<p><a href="${link}">${link}</a></p>`,
    `<p>${e(s.expiry)} ${e(s.ignore)}</p>`,
    `<p>&mdash; ${e(s.signature)}</p>`,
    '</body></html>',
    '',
  ].join('\n');
  return { subject: say(s.subject), text, html };
}

export function renderSms(purpose: SmsPurpose, p: { productName: string; code: string; expiresInMinutes: number }): string {
  return fill(SMS[purpose], { product: p.productName, code: p.code, duration: duration(p.expiresInMinutes) });
}

/**
 * `base` with `token=<token>` added to its query (`?` or `&`), before any `#fragment`.
 * The token is percent-encoded.
 */
export function linkWithToken(base: string, token: string): string {
  const hash = base.indexOf('#');
  const [head, fragment] = hash === -1 ? [base, ''] : [base.slice(0, hash), base.slice(hash)];
  const sep = !head.includes('?') ? '?' : /[?&]$/.test(head) ? '' : '&';
  return `${head}${sep}token=${encodeURIComponent(token)}${fragment}`;
}
