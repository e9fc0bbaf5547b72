import { randomUUID } from 'node:crypto';
import t from 'tap';
import { eraseUser } from '../../src/commands/eraseUser.js';
import { holderOf, reservationStreamOf } from '../../src/commands/identifiers.js';
import { rotateRefresh } from '../../src/commands/rotateRefresh.js';
import { updateProfile } from '../../src/commands/updateProfile.js';
import { loginsStream, sessionStream, userStream } from '../../src/domain/events.js';
import { allProjections } from '../../src/projections/index.js';
import { getUser } from '../../src/projections/users/queries.js';
import { email, login, openCommandEnv, register, typesOf, type CommandEnv } from '../helpers/commands.js';

const PASSWORD = 'obsidian-Ferry-44';

/** Tables holding no personal data by design (keys, bookkeeping). */
const NOT_READ_MODELS = new Set(['data_keys', 'signing_keys', 'migrations', 'projection_checkpoints']);

interface Hit {
  where: string;
  needle: string;
}

function findIn(where: string, texts: readonly string[], needles: readonly string[]): Hit[] {
  const hits: Hit[] = [];
  for (const text of texts) {
    const hay = text.toLowerCase();
    for (const needle of needles) if (hay.includes(needle.toLowerCase())) hits.push({ where, needle });
  }
  return hits;
}

/** Every stored event, as raw rows (all columns), and every event-store stream row. */
async function scanEventStore(env: CommandEnv, needles: readonly string[]): Promise<{ rows: number; hits: Hit[] }> {
  const { rows } = await env.sql.query<{ row: string }>(`select row_to_json(e)::text as row from eventstore.events e`);
  const { rows: streams } = await env.sql.query<{ row: string }>(`select row_to_json(s)::text as row from eventstore.streams s`);
  const all = [...rows, ...streams].map((r) => r.row);
  return { rows: rows.length, hits: findIn('eventstore', all, needles) };
}

/** Every row of every read-model table (schema authstream, keys and bookkeeping aside). */
async function scanReadModels(env: CommandEnv, needles: readonly string[]): Promise<{ tables: string[]; hits: Hit[] }> {
  const { rows: tables } = await env.sql.query<{ name: string }>(
    `select table_name as name from information_schema.tables where table_schema = 'authstream' order by table_name`);
  const scanned: string[] = [];
  const hits: Hit[] = [];
  for (const { name } of tables) {
    if (NOT_READ_MODELS.has(name)) continue;
    scanned.push(name);
    const { rows } = await env.sql.query<{ row: string }>(`select row_to_json(x)::text as row from authstream."${name}" x`);
    hits.push(...findIn(`authstream.${name}`, rows.map((r) => r.row), needles));
  }
  return { tables: scanned, hits };
}

void t.test('eraseUser', async (t) => {
  const env = await openCommandEnv(t);
  const tag = randomUUID().slice(0, 6);
  const p = {
    email1: `xanthe.${tag}@erasure-probe.example`,
    email2: `xanthe.moved.${tag}@erasure-probe.example`,
    phone: '+4915799912345',
    first1: `Xanthippe${tag}`,
    last1: `Quillfeather${tag}`,
    first2: `Zenobia${tag}`,
    last2: `Marchbanks${tag}`,
    ip1: '198.51.100.231',
    ip2: '203.0.113.177',
    ip3: '2001:db8::dead:beef',
    ua1: `ErasureProbe/1.0 (register ${tag})`,
    ua2: `ErasureProbe/2.0 (login ${tag})`,
    ua3: `ErasureProbe/3.0 (failure ${tag})`,
  };
  const needles = [
    p.email1, p.email2, p.email1.split('@')[0] ?? '', p.email2.split('@')[0] ?? '', p.phone, p.phone.slice(1), p.first1, p.last1,
    p.first2, p.last2, p.ip1, p.ip2, p.ip3, p.ua1, p.ua2, p.ua3, 'ErasureProbe',
  ];
  const control = { first: `Controlina${tag}`, ip: '192.0.2.199', ua: `ControlAgent/${tag}` };

  // A control user whose data must stay readable: proves the scans can see personal data at all.
  const controlEmail = email('control');
  const other = await register(env, { email: controlEmail, password: PASSWORD, firstName: control.first },
    { ip: control.ip, userAgent: control.ua });

  // The user's life: register, log in, change profile and email, rotate, fail logins.
  const reg = await register(env, { email: p.email1, phone: p.phone, password: PASSWORD, firstName: p.first1, lastName: p.last1 },
    { ip: p.ip1, userAgent: p.ua1 });
  const id = reg.user.id;
  const session2 = await login(env, { kind: 'email', value: p.email1 }, PASSWORD, { ip: p.ip2, userAgent: p.ua2 });
  await updateProfile(env.deps, id, { firstName: p.first2, lastName: p.last2, email: p.email2 },
    env.ctx({ actorId: id, ip: p.ip2, userAgent: p.ua2 }));
  await rotateRefresh(env.deps, session2.refreshToken, env.ctx({ ip: p.ip2, userAgent: p.ua2 }));
  await t.rejects(login(env, { kind: 'email', value: p.email2 }, 'wrong-Password-11', { ip: p.ip3, userAgent: p.ua3 }),
    { code: 'invalid_credentials' });
  await t.rejects(login(env, { kind: 'email', value: p.email1 }, PASSWORD, { ip: p.ip3, userAgent: p.ua3 }),
    { code: 'invalid_credentials' }, 'the old email no longer logs in');

  await env.caughtUp();
  const before = await scanReadModels(env, needles);
  t.ok(before.hits.some((h) => h.where === 'authstream.users' && h.needle === p.first2), 'before erasure the scan finds the user');
  t.ok(before.hits.some((h) => h.where === 'authstream.sessions' && h.needle === p.ip2));

  await t.test('wrong password or unknown user: nothing erased', async (t) => {
    await t.rejects(eraseUser(env.deps, { userId: id, password: 'wrong-Password-11' }, env.ctx()), { code: 'invalid_credentials' });
    await t.rejects(eraseUser(env.deps, { userId: randomUUID(), password: null }, env.ctx()), { code: 'not_found' });
    t.notMatch(typesOf(await env.stream(userStream(id))), ['UserErased']);
    t.ok(await env.runtime.keys.get(id), 'the key is still there');
  });

  await t.test('erasure: identifiers released, sessions revoked, UserErased, key destroyed', async (t) => {
    const position = await eraseUser(env.deps, { userId: id, password: PASSWORD }, env.ctx({ actorId: id }));
    t.type(position, 'bigint');
    const userEvents = await env.stream(userStream(id));
    t.strictSame(typesOf(userEvents), [
      'UserRegistered', 'EmailVerificationRequested', 'ProfileUpdated', 'EmailChanged', 'EmailVerificationRequested', 'UserErased',
    ]);
    for (const s of [reg, session2]) {
      t.match((await env.stream(sessionStream(s.sessionId))).at(-1), { type: 'SessionRevoked', data: { reason: 'user_erased' } });
      await t.rejects(rotateRefresh(env.deps, s.refreshToken, env.ctx()), { code: 'invalid_token' });
    }
    t.strictSame(typesOf(await env.stream(reservationStreamOf(env.deps, { kind: 'email', value: p.email2 }))),
      ['IdentifierClaimed', 'IdentifierReleased']);
    t.strictSame(typesOf(await env.stream(reservationStreamOf(env.deps, { kind: 'phone', value: p.phone }))),
      ['IdentifierClaimed', 'IdentifierReleased']);
    t.equal(await env.runtime.keys.get(id), null, 'the data key is gone');
    const { rows } = await env.sql.query<{ wrapped_key: string | null }>(`select wrapped_key from authstream.data_keys where user_id = $1`, [id]);
    t.strictSame(rows, [{ wrapped_key: null }], 'destroyed in the key store too');
    await t.rejects(login(env, { kind: 'email', value: p.email2 }, PASSWORD), { code: 'invalid_credentials' });
    await t.rejects(login(env, { kind: 'phone', value: p.phone }, PASSWORD), { code: 'invalid_credentials' });
  });

  await t.test('idempotent', async (t) => {
    t.equal(await eraseUser(env.deps, { userId: id, password: null }, env.ctx()), null, 'an admin erasing again appends nothing');
    await t.rejects(eraseUser(env.deps, { userId: id, password: PASSWORD }, env.ctx()), { code: 'invalid_credentials' },
      'self-service erasure of an erased account: no password matches');
    t.equal(typesOf(await env.stream(userStream(id))).filter((x) => x === 'UserErased').length, 1);
  });

  await t.test('ERASURE SCAN: no personal data left in any stored event or read-model row', async (t) => {
    await env.caughtUp();
    const store = await scanEventStore(env, needles);
    t.ok(store.rows > 20, `scanned ${store.rows} stored events`);
    t.strictSame(store.hits, [], 'no stored event contains the user\'s identifiers, names, ips or user agents');

    const live = await scanReadModels(env, needles);
    t.comment(`read-model tables scanned: ${live.tables.join(', ')}`);
    for (const name of ['users', 'sessions', 'session_erasures', 'activity']) t.ok(live.tables.includes(name), `${name} is scanned`);
    t.strictSame(live.hits, [], 'no read-model row contains them');

    for (const projection of allProjections()) await env.runtime.projections.rebuild(projection.name);
    await env.caughtUp();
    const rebuilt = await scanReadModels(env, needles);
    t.strictSame(rebuilt.hits, [], 'nor after rebuilding every projection');
    t.match(await getUser(env.sql, id), { id, status: 'erased', email: null, phone: null, firstName: '', lastName: '', roles: [] });

    const controls = await scanReadModels(env, [control.first, control.ip, control.ua]);
    t.strictSame([...new Set(controls.hits.map((h) => h.needle))].sort(), [control.first, control.ip, control.ua].sort(),
      'the control user\'s data is still found, so the scan does see personal data');
    t.equal((await getUser(env.sql, other.user.id))?.firstName, control.first);
    t.strictSame(env.errors, [], 'no projection failed on the erased user\'s events');
  });

  await t.test('the erased user\'s events decode as shredded', async (t) => {
    const userEvents = (await env.stream(userStream(id))).filter((e) => e.type !== 'EmailVerificationRequested');
    for (const e of userEvents.slice(0, 3)) t.equal(e.shredded, true, `${e.type} is shredded`);
    t.match(userEvents[0], {
      type: 'UserRegistered',
      data: { user_id: id, email: null, phone: null, first_name: '', last_name: '', password_hash: '', roles: ['user'] },
      metadata: { ip: null, user_agent: null },
    });
    t.match(userEvents[1], { type: 'ProfileUpdated', data: { first_name: '', last_name: '' } });
    t.match(userEvents[2], { type: 'EmailChanged', data: { email: null } });
    for (const s of [reg.sessionId, session2.sessionId]) {
      const [started] = await env.stream(sessionStream(s));
      t.match(started, { type: 'SessionStarted', shredded: true, metadata: { ip: null, user_agent: null } },
        'ip and user agent of the session are unreadable');
    }
    const checks = await env.stream(loginsStream(env.deps.secrets.identifierHash('email', p.email2)));
    const failures = checks.filter((e) => e.type === 'LoginFailed');
    t.match(failures, [{
      type: 'LoginFailed', data: { user_id: null, reason: 'wrong_password' }, shredded: true,
      metadata: { ip: null, correlation_id: null, request_id: null },
    }], 'the failed login no longer names the user, nor its request');
    const erasedAt = userEvents.at(-1)?.position ?? 0n;
    const whileHeld = checks.filter((e) => e.position < erasedAt);
    t.ok(whileHeld.length >= 4, 'a failed login and the erasure\'s own check');
    t.strictSame(whileHeld.filter((e) => !e.shredded || e.metadata.ip !== null || e.metadata.user_agent !== null)
      .map((e) => [e.type, e.data, e.metadata]), [], 'every check of the identifier while the user held it is shredded with the user');
    const claims = await env.stream(reservationStreamOf(env.deps, { kind: 'email', value: p.email1 }));
    t.match(claims, [
      { type: 'IdentifierClaimed', data: { user_id: null, kind: 'email' }, shredded: true, metadata: { correlation_id: null } },
      { type: 'IdentifierReleased', data: { user_id: null, kind: 'email' }, shredded: true },
    ], 'the old email\'s reservation no longer names its holder');
    const [controlReg] = await env.stream(userStream(other.user.id));
    t.match(controlReg, { shredded: false, data: { first_name: control.first }, metadata: { ip: control.ip } }, 'other users are untouched');
  });

  await t.test('UNLINKED: no identifier or login stream ties the erased user\'s id or requests to an identifier', async (t) => {
    const own = await env.sql.query<{ ids: string }>(
      `select (metadata->>'correlation_id') || ' ' || coalesce(metadata->>'request_id', '') as ids from eventstore.events
       where stream_id = $1 or data->>'user_id' = $2`, [userStream(id), id]);
    const links = [id, ...new Set(own.rows.flatMap((r) => r.ids.split(' ')).filter((x) => x.length > 0))];
    t.ok(links.length > 4, `the user's id and ${links.length - 1} correlation and request ids of their own events`);
    const hashed = await env.sql.query<{ row: string }>(
      `select row_to_json(e)::text as row from eventstore.events e where stream_id like 'identifier-%' or stream_id like 'logins-%'`);
    const hits = findIn('identifier streams', hashed.rows.map((r) => r.row), links);
    t.ok(hashed.rows.length >= 10, `scanned ${hashed.rows.length} events of identifier and login streams`);
    t.strictSame(hits, [], 'none of them appears in clear');
    const { rows } = await env.sql.query<{ ref: string | null }>(`select ref::text from authstream.data_keys where user_id = $1`, [id]);
    t.strictSame(rows, [{ ref: null }], 'the key reference the events name is gone with the key');
    const ctrl = await env.stream(reservationStreamOf(env.deps, { kind: 'email', value: controlEmail }));
    t.match(ctrl, [{ type: 'IdentifierClaimed', data: { user_id: other.user.id }, shredded: false }],
      'a live user\'s reservation still reads back with its holder');
  });

  await t.test('the identifiers can be registered again', async (t) => {
    const again = await register(env, { email: p.email2, phone: p.phone, password: 'a-New-Owner-Password' });
    const first = await register(env, { email: p.email1, password: 'a-New-Owner-Password' });
    t.not(again.user.id, id);
    t.equal(await holderOf(env.deps, { kind: 'email', value: p.email2 }), again.user.id);
    t.equal(await holderOf(env.deps, { kind: 'phone', value: p.phone }), again.user.id);
    t.equal(await holderOf(env.deps, { kind: 'email', value: p.email1 }), first.user.id);
    t.equal((await login(env, { kind: 'phone', value: p.phone }, 'a-New-Owner-Password')).user.id, again.user.id);
    await t.rejects(login(env, { kind: 'email', value: p.email2 }, PASSWORD), { code: 'invalid_credentials' },
      'the erased user\'s password opens nothing');
  });
});
