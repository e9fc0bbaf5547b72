import t from 'tap';
import type { Decoded } from '../../../src/ports/events.js';
import type { UserView } from '../../../src/projections/users/queries.js';
import { UserCache } from '../../../src/projections/users/cache.js';

const user = (id: string, firstName: string): UserView => ({
  id, email: `${id}@example.com`, phone: null, firstName, lastName: '', roles: ['user'], status: 'active',
  emailVerified: false, phoneVerified: false, createdAt: new Date(0), updatedAt: new Date(0),
});

const event = (type: string, userId: string, position: bigint) =>
  ({ type, data: { user_id: userId }, position } as unknown as Decoded);

t.test('a row is cached once the users projection has applied the user\'s newest event', async (t) => {
  let applied = 10n;
  const cache = new UserCache({ appliedPosition: () => applied, from: 10n });
  let loads = 0;
  let row = user('a', 'Ann');
  const load = async () => { loads += 1; return row; };

  t.equal((await cache.get('a', load))?.firstName, 'Ann');
  t.equal((await cache.get('a', load))?.firstName, 'Ann');
  t.equal(loads, 1, 'the second read is served from memory');

  // An event arrives before the projection applies it: the entry is dropped, and rows read
  // meanwhile (still the old one in the table) are not cached.
  cache.apply([event('ProfileUpdated', 'a', 20n)]);
  t.equal((await cache.get('a', load))?.firstName, 'Ann', 'the read model still has the old row');
  t.equal(loads, 2);
  await cache.get('a', load);
  t.equal(loads, 3, 'not cached while the projection lags');

  applied = 20n;
  row = user('a', 'Anna');
  t.equal((await cache.get('a', load))?.firstName, 'Anna');
  await cache.get('a', load);
  t.equal(loads, 4, 'cached again once applied');
});

t.test('an event that arrives during a read keeps that read out of the cache', async (t) => {
  const applied = 30n;
  const cache = new UserCache({ appliedPosition: () => applied, from: 30n });
  let loads = 0;
  const load = async () => {
    loads += 1;
    if (loads === 1) cache.apply([event('UserDisabled', 'b', 31n)]);
    return user('b', 'Bo');
  };
  await cache.get('b', load);
  await cache.get('b', load);
  t.equal(loads, 2, 'the first read raced an event and was not cached');
});

t.test('events of other types do not evict', async (t) => {
  const cache = new UserCache({ appliedPosition: () => 5n, from: 5n });
  let loads = 0;
  const load = async () => { loads += 1; return user('c', 'Cy'); };
  await cache.get('c', load);
  cache.apply([event('SessionStarted', 'c', 6n)]);
  await cache.get('c', load);
  t.equal(loads, 1);
});
