import t from 'tap';
import type { DomainEvent, Recorded } from '../../src/domain/events.js';
import { UserCutoffs } from '../../src/tokens/userCutoffs.js';

const U = '7f9c2f0e-1111-4aaa-8bbb-000000000001';
const S1 = '5e55100e-2222-4aaa-8bbb-000000000001';
const S2 = '5e55100e-2222-4aaa-8bbb-000000000002';
const NOW = Date.parse('2026-01-01T00:00:00Z');
const ev = (type: DomainEvent['type'], revision: bigint, data: Record<string, unknown> = {}, at = NOW): Recorded<DomainEvent> => ({
  type, data: { user_id: U, ...data }, id: `e${revision}`, streamId: `user-${U}`, revision, position: revision,
  occurredAt: new Date(at), recordedAt: new Date(at),
} as unknown as Recorded<DomainEvent>);

void t.test('a cut refuses tokens issued against earlier revisions of the user stream, and only those', async (t) => {
  const cuts = new UserCutoffs({ now: () => NOW });
  t.ok(cuts.allows(U, S1, '0'), 'no cut: every token');
  cuts.apply([ev('RoleGranted', 1n, { role: 'admin' }), ev('RoleRevoked', 2n, { role: 'admin' })]);
  t.notOk(cuts.allows(U, S1, '1'), 'a token from before the role was revoked');
  t.ok(cuts.allows(U, S1, '2'), 'a token issued at the revoke or later');
  t.notOk(cuts.allows(U, S1, undefined), 'a token without urv (issued before the claim existed)');
  t.notOk(cuts.allows(U, S1, 'x1'), 'a malformed urv');
  t.ok(cuts.allows('someone-else', S1, '0'), 'other users are untouched');
});

void t.test('a password change keeps the session that made it, but not past an earlier hard cut', async (t) => {
  const cuts = new UserCutoffs({ now: () => NOW });
  cuts.apply([ev('RoleRevoked', 3n, { role: 'ops' }), ev('PasswordChanged', 5n, { kept_session_id: S1, password_hash: 'x' })]);
  t.ok(cuts.allows(U, S1, '3'), 'the kept session\'s token from after the revoke');
  t.notOk(cuts.allows(U, S1, '2'), 'not one from before the revoke (it carried the revoked role)');
  t.notOk(cuts.allows(U, S2, '4'), 'any other session\'s earlier token');
  t.ok(cuts.allows(U, S2, '5'), 'a token issued after the change');
  cuts.apply([ev('PasswordChanged', 5n, { kept_session_id: S1, password_hash: 'x' })]);
  t.ok(cuts.allows(U, S1, '3'), 'the same event delivered again changes nothing');
  cuts.apply([ev('UserDisabled', 7n)]);
  t.notOk(cuts.allows(U, S1, '6'), 'a disable keeps no session');
});

void t.test('cuts older than the horizon are dropped; events older than it are ignored', async (t) => {
  let now = NOW;
  const cuts = new UserCutoffs({ now: () => now, horizonMs: 1000 });
  cuts.apply([ev('UserErased', 4n, {}, NOW - 5000)]);
  t.equal(cuts.size, 0, 'too old to matter');
  cuts.apply([ev('UserDisabled', 4n)]);
  t.equal(cuts.size, 1);
  now += 1001;
  t.equal(cuts.prune(), 1);
  t.ok(cuts.allows(U, S1, '0'));
});
