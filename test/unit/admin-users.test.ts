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

test('the users file gives roles and accounts (the older pages list names Messenger pages); every problem is named', () => {
  const hash = hashPassword('long-enough-password');
  const ok = parseUsersFile(
    JSON.stringify({
      users: [
        { name: 'ann', role: 'agent', pages: ['101'], passwordHash: hash },
        { name: 'root', role: 'admin', accounts: ['*'], passwordHash: hash },
        { name: 'wen', role: 'agent', accounts: ['whatsapp:5550001', 'line:Ubot'], passwordHash: hash },
      ],
    }),
    'f',
  );
  assert.deepEqual(ok.problems, []);
  assert.deepEqual(ok.users!.get('ann')!.accounts, ['messenger:101']);
  assert.equal(ok.users!.get('root')!.accounts, undefined, '"*" means every account');
  assert.deepEqual(ok.users!.get('wen')!.accounts, ['whatsapp:5550001', 'line:Ubot']);
  const unnamed = parseUsersFile(JSON.stringify({ users: [{ name: 'x', role: 'agent', accounts: ['101'], passwordHash: hash }] }), 'f');
  assert.match(unnamed.problems.join(), /users\[0\]\.accounts has "101": an account is named <channel>:<id>/);
  const bad = parseUsersFile(
    JSON.stringify({
      users: [
        { name: 'a b', role: 'boss', pages: [], passwordHash: 'secret' },
        { name: 'ann', role: 'agent', pages: ['1'], passwordHash: hash },
        { name: 'ann', role: 'agent', pages: ['1'], passwordHash: hash },
      ],
    }),
    'f',
  );
  const all = bad.problems.join('\n');
  for (const want of ['users[0].name', 'users[0].role', 'users[0].pages', 'users[0].passwordHash', 'users[2].name ann is listed twice']) assert.ok(all.includes(want), `${want} in ${all}`);
  assert.match(parseUsersFile('{', 'f').problems[0]!, /not valid JSON/);
});

test('npm run admin-user prints a usable entry for a password given on stdin', async () => {
  const r = spawnSync(process.execPath, ['--import', 'tsx', 'src/cli/admin-user.ts', '--name', 'vic', '--role', 'viewer', '--accounts', 'messenger:101,whatsapp:102'], {
    cwd: path.resolve(__dirname, '../..'),
    input: 'a-long-password\n',
    encoding: 'utf8',
  });
  assert.equal(r.status, 0, r.stderr);
  const entry = JSON.parse(r.stdout);
  assert.deepEqual([entry.name, entry.role, entry.accounts], ['vic', 'viewer', ['messenger:101', 'whatsapp:102']]);
  assert.deepEqual(parseUsersFile(JSON.stringify({ users: [entry] }), 'f').problems, [], 'the entry is one the users file takes');
  assert.equal(await verifyPassword('a-long-password', entry.passwordHash), true);
  const short = spawnSync(process.execPath, ['--import', 'tsx', 'src/cli/admin-user.ts', '--hash'], { cwd: path.resolve(__dirname, '../..'), input: 'short\n', encoding: 'utf8' });
  assert.equal(short.status, 1);
});
