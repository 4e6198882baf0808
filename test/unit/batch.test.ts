/** The Batcher: requests of one turn of the event loop go out together, within its bounds, each answered alone. */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { Batcher } from '../../src/queue/batch';

test('requests submitted in the same turn are run together, each answered with its own result', async () => {
  const runs: number[][] = [];
  const b = new Batcher<number, number>(async (xs) => {
    runs.push(xs);
    return xs.map((x) => x * 10);
  });
  const answers = await Promise.all([1, 2, 3].map((x) => b.submit(x)));
  assert.deepEqual(answers, [10, 20, 30]);
  assert.deepEqual(runs, [[1, 2, 3]]);
  assert.equal(await b.submit(4), 40, 'a lone request is run on the next turn');
  assert.deepEqual(runs, [[1, 2, 3], [4]]);
});

test('a batch holds at most max requests and maxSize, but a request larger than maxSize still goes (alone)', async () => {
  const runs: number[][] = [];
  const b = new Batcher<number, number>(
    async (xs) => {
      runs.push(xs);
      return xs;
    },
    { max: 2, size: (x) => x, maxSize: 10 },
  );
  await Promise.all([1, 2, 3, 9, 50, 4].map((x) => b.submit(x)));
  assert.deepEqual(runs, [[1, 2], [3], [9], [50], [4]]);
});

test('an Error for one request rejects that request only; a failed run rejects every request of it', async () => {
  const b = new Batcher<number, number>(async (xs) => xs.map((x) => (x === 2 ? new Error('two refused') : x)));
  const [one, two] = await Promise.allSettled([b.submit(1), b.submit(2)]);
  assert.deepEqual(one, { status: 'fulfilled', value: 1 });
  assert.ok(two.status === 'rejected' && /two refused/.test(String(two.reason)));
  const failing = new Batcher<number, number>(async () => {
    throw new Error('redis down');
  });
  const all = await Promise.allSettled([failing.submit(1), failing.submit(2)]);
  assert.ok(all.every((r) => r.status === 'rejected' && /redis down/.test(String(r.reason))));
  const throwing = new Batcher<number, number>(() => {
    throw new Error('thrown synchronously');
  });
  await assert.rejects(throwing.submit(1), /thrown synchronously/);
});
