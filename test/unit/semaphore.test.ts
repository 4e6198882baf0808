/** The bounded semaphore behind admin password checks: at most N at once, a bounded line, first come first served. */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { Semaphore } from '../../src/lib/semaphore';

test('at most `max` hold a slot, at most `maxWaiting` wait, the rest are refused at once; slots pass in arrival order', async () => {
  const s = new Semaphore(2, 2);
  const a = await s.acquire();
  const b = await s.acquire();
  const order: string[] = [];
  const c = s.acquire().then((r) => (order.push('c'), r));
  const d = s.acquire().then((r) => (order.push('d'), r));
  assert.equal(await s.acquire(), undefined, 'the line is full');
  assert.deepEqual([s.running, s.waiting], [2, 2]);
  a!();
  a!(); // releasing twice frees one slot only
  const rc = await c;
  assert.deepEqual([s.running, s.waiting], [2, 1]);
  b!();
  const rd = await d;
  assert.deepEqual(order, ['c', 'd']);
  rc!();
  rd!();
  assert.deepEqual([s.running, s.waiting], [0, 0]);
  assert.ok(await s.acquire(), 'free again');
});
