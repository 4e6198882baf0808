/** Admin users file, password hashes and the admin-user command. */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import path from 'node:path';
import { test } from 'node:test';
import { hashPassword, parseUsersFile, verifyPassword } from '../../src/admin/users';

test('password hashes verify the right password only, and differ for the same password', async () => {
  const a = hashPassword('correct horse battery staple');
  assert.equal(await verifyPassword('correct horse battery staple', a), true);
  assert.equal(await verifyPassword('correct horse battery stapl', a), false);
  assert.notEqual(a, hashPassword('correct horse battery staple'), 'salted');
  assert.equal(await verifyPassword('x', 'plain-text-password'), false, 'a non-scrypt value never matches');
});

test('the users file gives roles and pages; every problem is named', () => {
  const hash = hashPassword('long-enough-password');
  const ok = parseUsersFile(JSON.stringify({ users: [{ name: 'ann', role: 'agent', pages: ['101'], passwordHash: hash }, { name: 'root', role: 'admin', pages: ['*'], passwordHash: hash }] }), 'f');
  assert.deepEqual(ok.problems, []);
  assert.deepEqual(ok.users!.get('ann')!.pages, ['101']);
  assert.equal(ok.users!.get('root')!.pages, undefined, '"*" means every page');
  const bad = parseUsersFile(JSON.stringify({ users: [{ name: 'a b', role: 'boss', pages: [], passwordHash: 'secret' }, { name: 'ann', role: 'agent', pages: ['1'], passwordHash: hash }, { name: 'ann', role: 'agent', pages: ['1'], passwordHash: hash }] }), 'f');
  const all = bad.problems.join('\n');
  for (const want of ['users[0].name', 'users[0].role', 'users[0].pages', 'users[0].passwordHash', 'users[2].name ann is listed twice']) assert.ok(all.includes(want), `${want} in ${all}`);
  assert.match(parseUsersFile('{', 'f').problems[0]!, /not valid JSON/);
});

test('npm run admin-user prints a usable entry for a password given on stdin', async () => {
  const r = spawnSync(process.execPath, ['--import', 'tsx', 'src/cli/admin-user.ts', '--name', 'vic', '--role', 'viewer', '--pages', '101,102'], { cwd: path.resolve(__dirname, '../..'), input: 'a-long-password\n', encoding: 'utf8' });
  assert.equal(r.status, 0, r.stderr);
  const entry = JSON.parse(r.stdout);
  assert.deepEqual([entry.name, entry.role, entry.pages], ['vic', 'viewer', ['101', '102']]);
  assert.equal(await verifyPassword('a-long-password', entry.passwordHash), true);
  const short = spawnSync(process.execPath, ['--import', 'tsx', 'src/cli/admin-user.ts', '--hash'], { cwd: path.resolve(__dirname, '../..'), input: 'short\n', encoding: 'utf8' });
  assert.equal(short.status, 1);
});
