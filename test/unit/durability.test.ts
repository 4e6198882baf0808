/** Slots as Redis Cluster computes them: WAIT must go to the master that took the write. */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { slotOf } from '../../src/queue/durability';

test('key slots match Redis Cluster (CRC16/XMODEM mod 16384, hash tags honoured)', () => {
  assert.equal(slotOf('foo'), 12182);
  assert.equal(slotOf('123456789'), 0x31c3 % 16384);
  assert.equal(slotOf('{user1000}.following'), slotOf('{user1000}.followers'));
  assert.equal(slotOf('cb:{101:u1}:q'), slotOf('cb:{101:u1}:sent'), 'every key of a conversation is on one node');
  assert.equal(slotOf('a{}b'), slotOf('a{}b'));
  assert.notEqual(slotOf('a{}b'), slotOf('{}'), 'an empty tag is no tag: the whole key is hashed');
});
