/** Look-alike identifiers over HTTP: one account, 409 for the second; spoofing characters 400; NUL never 5xx. */
import t from 'tap';
import { buildAdminApp } from '../helpers/admin.js';
import { PASSWORD, expectProblem, expectValidation, post } from '../helpers/http.js';

const ctx = await buildAdminApp(t);
const { app, auth } = ctx;

void t.test('spellings a person cannot tell apart register one account', async (t) => {
  const first = await post(app, '/v1/auth/register', { email: 'jos\u00e9@bücher.example', password: PASSWORD });
  t.equal(first.statusCode, 201, first.body);
  for (const twin of ['JOSE\u0301@BÜCHER.EXAMPLE', 'ｊｏｓé@bücher.example', 'josé@xn--bcher-kva.example']) {
    expectProblem(t, await post(app, '/v1/auth/register', { email: twin, password: PASSWORD }), 409, 'identifier_taken', twin);
  }
  const login = await post(app, '/v1/auth/login', { email: 'ＪＯＳÉ@xn--bcher-kva.example', password: PASSWORD });
  t.equal(login.statusCode, 200, 'and any of them signs in');
});

void t.test('zero-width, bidi and control characters: 400, nothing stored', async (t) => {
  for (const email of ['eve\u200b@example.com', '\u202eeve@example.com', 'eve\u0085@example.com', 'eve\u0000@example.com']) {
    expectValidation(t, await post(app, '/v1/auth/register', { email, password: PASSWORD }), '/email', JSON.stringify(email));
  }
  expectValidation(t, await post(app, '/v1/auth/register', { email: 'name@example.com', first_name: 'Eve\u202e', password: PASSWORD }),
    '/first_name');
});

void t.test('a NUL anywhere in an admin query is a 400, never a 500', async (t) => {
  for (const url of ['/v1/admin/users?query=%00', '/v1/admin/users?query=a%00b', '/v1/admin/events?types=%00', '/v1/admin/streams/user-%00']) {
    const res = await app.inject({ method: 'GET', url, headers: auth });
    t.ok(res.statusCode >= 400 && res.statusCode < 500, `${url}: ${res.statusCode}`);
  }
});
