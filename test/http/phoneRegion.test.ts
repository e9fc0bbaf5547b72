/**
 * DEFAULT_PHONE_REGION: numbers written the way people of that country write them
 * (`8 912 345-67-89` in Russia) are accepted and stored in E.164, on every endpoint that
 * takes a phone number; without it such a number is refused as before.
 */
import t from 'tap';
import { ConfigError, loadConfig } from '../../src/config.js';
import { buildTestApp } from '../helpers/app.js';
import { cheapHasher, expectProblem, parse, post, PASSWORD, type TokenBody } from '../helpers/http.js';

t.test('with DEFAULT_PHONE_REGION=RU', async (t) => {
  const { app } = await buildTestApp(t, { DEFAULT_PHONE_REGION: 'ru' }, { hasher: cheapHasher() });
  const res = await post(app, '/v1/auth/register', { phone: '8 (912) 345-67-01', password: PASSWORD });
  t.equal(res.statusCode, 201, res.body);
  const user = parse<TokenBody>(res).user;
  t.equal(user.phone, '+79123456701', 'stored in E.164');
  for (const identifier of ['8 912 345 67 01', '+7 912 345-67-01', '89123456701']) {
    t.equal((await post(app, '/v1/auth/login', { identifier, password: PASSWORD })).statusCode, 200, `login as ${identifier}`);
  }
  t.equal((await post(app, '/v1/auth/login', { phone: '8-912-345-67-01', password: PASSWORD })).statusCode, 200, 'the phone field too');
  const grant = await app.inject({ method: 'POST', url: '/oauth/token', payload: { grant_type: 'password', username: '8 912 345 67 01', password: PASSWORD } });
  t.equal(grant.statusCode, 200, 'the OAuth password grant too');
  const again = await post(app, '/v1/auth/register', { phone: '+79123456701', password: PASSWORD });
  expectProblem(t, again, 409, 'identifier_taken', 'one number however written');
  const foreign = await post(app, '/v1/auth/register', { phone: '+33 6 12 34 56 78', password: PASSWORD });
  t.equal(parse<TokenBody>(foreign).user.phone, '+33612345678', 'a number with + is international as before');
  expectProblem(t, await post(app, '/v1/auth/register', { phone: '8 123', password: PASSWORD }), 400, 'validation_failed', 'an impossible number');
});

t.test('without it, a national number is refused as before', async (t) => {
  const { app } = await buildTestApp(t, {}, { hasher: cheapHasher() });
  expectProblem(t, await post(app, '/v1/auth/register', { phone: '8 (912) 345-67-02', password: PASSWORD }), 400, 'validation_failed');
  t.equal((await post(app, '/v1/auth/register', { phone: '+7 912 345-67-02', password: PASSWORD })).statusCode, 201);
});

t.test('a region that is not one says so at start-up', async (t) => {
  t.throws(() => loadConfig({ DEFAULT_PHONE_REGION: 'XX' }), ConfigError);
  t.throws(() => loadConfig({ DEFAULT_PHONE_REGION: 'russia' }), { message: /DEFAULT_PHONE_REGION/ });
  t.equal(loadConfig({ DEFAULT_PHONE_REGION: ' fr ' }).defaultPhoneRegion, 'FR');
  t.equal(loadConfig({}).defaultPhoneRegion, undefined);
});
