import t from 'tap';
import { BoundedMap } from '../../src/lib/boundedMap.js';

void t.test('BoundedMap holds at most its limit, dropping the entry set longest ago', async (t) => {
  const m = new BoundedMap<string, number>(2);
  m.set('a', 1);
  m.set('b', 2);
  m.set('c', 3);
  t.equal(m.size, 2);
  t.equal(m.get('a'), undefined, 'the oldest went');
  t.same([m.get('b'), m.get('c')], [2, 3]);
  m.set('b', 20); // set again: now the newest
  m.set('d', 4);
  t.equal(m.get('c'), undefined, 'c was the oldest once b was set again');
  t.same([m.get('b'), m.get('d')], [20, 4]);
  m.set('d', 40);
  t.equal(m.size, 2, 'replacing a value at the limit drops nothing else');
  t.equal(m.get('b'), 20);
  m.delete('b');
  t.equal(m.size, 1);
  t.equal(m.get('b'), undefined);
});
