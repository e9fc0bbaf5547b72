import t from 'tap';
import { buildTestApp, json } from '../helpers/app.js';

t.test('register, me, refresh, logout', async (t) => {
  const { app } = await buildTestApp(t);
  const reg = await app.inject({ method: 'POST', url: '/v1/auth/register', payload: { email: 'Smoke@Example.com', password: 'a long enough password' } });
  t.equal(reg.statusCode, 201, reg.body);
  const body = json<{ access_token: string; refresh_token: string; user: { email: string } }>(reg);
  t.equal(body.user.email, 'smoke@example.com');
  const me = await app.inject({ method: 'GET', url: '/v1/me', headers: { authorization: `Bearer ${body.access_token}` } });
  t.equal(me.statusCode, 200, me.body);
  const out = await app.inject({ method: 'POST', url: '/v1/auth/logout', payload: { refresh_token: body.refresh_token } });
  t.equal(out.statusCode, 204, out.body);
  const again = await app.inject({ method: 'GET', url: '/v1/me', headers: { authorization: `Bearer ${body.access_token}` } });
  t.equal(again.statusCode, 401);
});
