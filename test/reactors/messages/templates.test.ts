/**
 * Message templates: the link stands verbatim on its own line of the text part, every value
 * is escaped in the HTML part (hostile product names and links included), the SMS carries
 * the code, and linkWithToken puts the token in the query whatever the base looks like.
 */
import t from 'tap';
import { linkWithToken, renderMail, renderSms } from '../../../src/reactors/messages/templates.js';
import { codeIn, linkIn } from '../../helpers/mailbox.js';

const link = 'https://app.example.com/reset?token=abc_DEF-123';
const mailPurposes = ['password_reset', 'email_verification'] as const;

t.test('the text part has the link on its own line, verbatim, and the same words as the html', async (t) => {
  for (const purpose of mailPurposes) {
    const m = renderMail(purpose, { productName: 'Acme', link, expiresInMinutes: 30 });
    t.ok(m.text.split('\n').includes(link), `${purpose}: link line`);
    t.equal(linkIn(m.text, 'https://app.example.com/reset'), link);
    t.match(m.subject, /Acme/);
    t.match(m.text, /30 minutes/);
    t.match(m.html, `<a href="${link}">${link}</a>`);
    t.match(m.html, /30 minutes/);
    t.notMatch(m.subject, /[\r\n]/);
  }
  const reset = renderMail('password_reset', { productName: 'Acme', link, expiresInMinutes: 60 });
  const verify = renderMail('email_verification', { productName: 'Acme', link, expiresInMinutes: 1440 });
  t.not(reset.subject, verify.subject, 'one template per purpose');
  t.match(reset.text, /1 hour\b/);
  t.match(verify.text, /24 hours/);
  t.match(renderMail('password_reset', { productName: 'Acme', link, expiresInMinutes: 1 }).text, /1 minute\b/);
});

t.test('hostile product names and links are escaped in the html, text and attribute alike', async (t) => {
  const hostile = '"><script>alert(\'x\')</script>&';
  const evilLink = `https://app.example.com/reset?token=${hostile}`;
  for (const purpose of mailPurposes) {
    const m = renderMail(purpose, { productName: hostile, link: evilLink, expiresInMinutes: 15 });
    t.notMatch(m.html, /<script/i, purpose);
    t.notMatch(m.html, /"><|'\)/, 'no quote escapes the href, no raw quotes at all');
    const escaped = '&quot;&gt;&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt;&amp;';
    t.match(m.html, `<a href="https://app.example.com/reset?token=${escaped}">`);
    t.match(m.html, escaped, 'the product name is escaped in the text of the html');
    t.ok(m.text.split('\n').includes(evilLink), 'the text part is plain text, left as is');
    t.match(m.subject, hostile, 'the subject is a header, not html');
  }
  t.equal(renderMail('password_reset', { productName: '{duration}{code}', link, expiresInMinutes: 5 }).subject,
    'Reset your {duration}{code} password', 'placeholders inside values are not filled again');
});

t.test('the SMS is short and carries the 6-digit code', async (t) => {
  for (const purpose of ['password_reset', 'phone_verification'] as const) {
    const sms = renderSms(purpose, { productName: 'Acme', code: '042917', expiresInMinutes: 10 });
    t.equal(codeIn(sms), '042917', purpose);
    t.match(sms, /Acme/);
    t.match(sms, /10 minutes/);
    t.ok(sms.length <= 160, `fits one SMS (${sms.length})`);
  }
  t.not(renderSms('password_reset', { productName: 'A', code: '123456', expiresInMinutes: 5 }),
    renderSms('phone_verification', { productName: 'A', code: '123456', expiresInMinutes: 5 }));
});

t.test('linkWithToken adds the token to the query, encoded', async (t) => {
  const cases: [string, string, string][] = [
    ['https://app.example.com/reset', 'abc', 'https://app.example.com/reset?token=abc'],
    ['https://app.example.com/reset?lang=fr', 'abc', 'https://app.example.com/reset?lang=fr&token=abc'],
    ['https://app.example.com/reset?', 'abc', 'https://app.example.com/reset?token=abc'],
    ['https://app.example.com/reset?lang=fr&', 'abc', 'https://app.example.com/reset?lang=fr&token=abc'],
    ['https://app.example.com/#/reset', 'abc', 'https://app.example.com/?token=abc#/reset'],
    ['https://app.example.com/r?a=1#top', 'abc', 'https://app.example.com/r?a=1&token=abc#top'],
    ['https://app.example.com/reset', 'a+b/c=&d e', 'https://app.example.com/reset?token=a%2Bb%2Fc%3D%26d%20e'],
  ];
  for (const [base, token, expected] of cases) t.equal(linkWithToken(base, token), expected, base);
  const url = new URL(linkWithToken('https://app.example.com/reset?lang=fr', 'a+b/c=&d e'));
  t.equal(url.searchParams.get('token'), 'a+b/c=&d e', 'a URL parser reads the token back');
  t.equal(url.searchParams.get('lang'), 'fr');
});

t.test('linkIn and codeIn read messages like a user', async (t) => {
  t.equal(linkIn('open\nhttps://x.example/a?token=t1\nthanks', 'https://x.example/a'), 'https://x.example/a?token=t1');
  t.equal(linkIn('nothing here', 'https://x.example/a'), null);
  t.equal(codeIn('Your code: 1234567 or 123456.'), '123456');
  t.equal(codeIn('no code 12345'), null);
});
