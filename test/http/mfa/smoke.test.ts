import t from 'tap';
import { buildTestApp } from '../../helpers/app.js';
import { bearer, cheapHasher, decodeJwt, parse, post, register, type TokenBody } from '../../helpers/http.js';
import { codeOf, enrolTotp, type MfaRequiredBody } from '../../helpers/mfa.js';

t.test('smoke: enrol TOTP, step up', async (t) => {
  const { app } = await buildTestApp(t, {}, { hasher: cheapHasher() });
  const u = await register(t, app);
  const totp = await enrolTotp(app, u.access_token);
  t.equal(totp.recoveryCodes?.length, 10);
  const res = await post(app, '/v1/auth/login', { email: u.user.email, password: 'correct horse battery staple' });
  t.equal(res.statusCode, 403, res.body);
  const body = parse<MfaRequiredBody>(res);
  t.equal(body.code, 'mfa_required');
  const done = await post(app, '/v1/auth/login/mfa', { mfa_ticket: body.mfa_ticket, code: codeOf(totp.secret, new Date(), 1) });
  t.equal(done.statusCode, 200, done.body);
  t.same(decodeJwt(parse<TokenBody>(done).access_token).payload.amr, ['pwd', 'otp']);
  const list = await app.inject({ method: 'GET', url: '/v1/me/mfa', headers: bearer(u.access_token) });
  t.comment(list.body);
});
