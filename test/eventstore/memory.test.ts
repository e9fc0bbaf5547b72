/**
 * The contract on the in-memory store the command tests run on: one store for the whole
 * file, so it also holds on a store that is not empty.
 */
import t from 'tap';
import { MemoryEventStore } from '../../src/eventstore/memory.js';
import { eventStoreContract } from '../helpers/eventStoreContract.js';

const store = new MemoryEventStore();
t.teardown(() => store.close());

eventStoreContract(t, 'MemoryEventStore', async () => store);

void t.test('a caller cannot change stored history through what it wrote or read', async (t) => {
  const written = { id: crypto.randomUUID(), type: 'Kept', data: { list: [1] }, metadata: {}, occurredAt: new Date() };
  await store.appendToStream('kept-1', [written], { expectedRevision: 'no_stream' });
  written.data.list.push(2);
  const [read] = await store.readStream('kept-1');
  t.same(read?.data, { list: [1] }, 'the written object was copied');
  (read?.data.list as number[]).push(3);
  t.same((await store.readStream('kept-1'))[0]?.data, { list: [1] }, 'the read object is a copy');
});
