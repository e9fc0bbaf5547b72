/**
 * Validation errors: every one at once, one per field, in plain words (what a DRF client
 * is used to), through the real routes.
 */
import t from 'tap';
import { buildTestApp } from '../helpers/app.js';
import { cheapHasher, expectProblem, post, type ProblemBody } from '../helpers/http.js';
import { fieldErrorsOf, MAX_FIELD_ERRORS, plainMessage, summary } from '../../src/http/validationMessages.js';

const { app } = await buildTestApp(t, {}, { hasher: cheapHasher() });

t.test('a register body with four faults names all four', async (t) => {
  const res = await post(app, '/v1/auth/register', { email: 42, last_name: 5, nickname: 'ada' });
  const body: ProblemBody = expectProblem(t, res, 400, 'validation_failed');
  t.same(new Set(body.errors?.map((e) => `${e.path} ${e.message}`)), new Set([
    '/password is required',
    '/email must be a string',
    '/last_name must be a string',
    '/nickname is not allowed',
  ]), 'each field once, in plain words');
  t.match(body.detail, /password is required/);
  t.notMatch(res.body, /must have required property|must NOT have|must be string/, 'none of Ajv\'s own wording');
});

t.test('a body that is not an object', async (t) => {
  const body = expectProblem(t, await post(app, '/v1/auth/login', [1, 2]), 400, 'validation_failed');
  t.same(body.errors, [{ path: '/', message: 'the body must be a JSON object' }]);
  t.equal(body.detail, 'the body must be a JSON object');
});

t.test('messages of each kind', async (t) => {
  const cases: [string, Record<string, unknown>, string][] = [
    ['type', { type: 'integer' }, 'must be a whole number'],
    ['type', { type: 'boolean' }, 'must be true or false'],
    ['minLength', { limit: 1 }, 'must not be empty'],
    ['minLength', { limit: 8 }, 'must be at least 8 characters'],
    ['maxLength', { limit: 1 }, 'must be at most 1 character'],
    ['minimum', { limit: 10 }, 'must be at least 10'],
    ['maximum', { limit: 60 }, 'must be at most 60'],
    ['maxItems', { limit: 32 }, 'must hold at most 32 items'],
    ['enum', { allowedValues: ['enabled', 'disabled'] }, 'must be one of: "enabled", "disabled"'],
    ['format', { format: 'email' }, 'must be an email address'],
    ['format', { format: 'ipv9' }, 'must be in the format ipv9'],
    ['const', { allowedValue: 'password' }, 'must be "password"'],
  ];
  for (const [keyword, params, message] of cases) t.equal(plainMessage({ keyword, params }), message, keyword);
  t.equal(plainMessage({ keyword: 'somethingNew', params: {}, message: 'as Ajv says' }), 'as Ajv says', 'an unknown keyword keeps Ajv\'s text');
});

t.test('anyOf noise is dropped when a field has a precise error; the list is capped', async (t) => {
  const errors = fieldErrorsOf([
    { keyword: 'type', instancePath: '/phone', params: { type: 'string' } },
    { keyword: 'type', instancePath: '/phone', params: { type: 'null' } },
    { keyword: 'anyOf', instancePath: '/phone', params: {} },
    { keyword: 'anyOf', instancePath: '/other', params: {} },
  ]);
  t.same(errors, [
    { path: '/phone', message: 'must be a string' },
    { path: '/phone', message: 'must be null' },
    { path: '/other', message: 'does not match any of the accepted shapes' },
  ]);
  t.equal(summary(errors.slice(0, 1)), 'phone must be a string');
  const many = Array.from({ length: 500 }, (_, i) => ({ keyword: 'type', instancePath: `/items/${i}`, params: { type: 'string' } }));
  t.equal(fieldErrorsOf(many).length, MAX_FIELD_ERRORS);
});
