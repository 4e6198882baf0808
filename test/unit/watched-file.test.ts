/** A settings file reloaded without a restart: changes take effect, broken versions are refused and reported once. */
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { test } from 'node:test';
import { WatchedFile } from '../../src/lib/watched-file';

test('a changed file is read again; an unreadable or invalid version leaves the last good value in force and is reported once', async () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'watched-'));
  const file = path.join(dir, 'n.json');
  fs.writeFileSync(file, '1');
  const changes: [number, boolean][] = [];
  const invalid: string[][] = [];
  const w = new WatchedFile<number>({
    file,
    initial: 1,
    everyMs: 60_000,
    parse: (text) => (/^\d+$/.test(text) ? { value: Number(text), problems: [] } : { problems: [`not a number: ${text}`] }),
    onChange: (v, first) => changes.push([v, first]),
    onInvalid: (p) => invalid.push(p),
  });
  w.start();
  try {
    await w.check();
    assert.deepEqual(changes, [[1, true]], 'the first look reads the file');
    await w.check();
    assert.equal(changes.length, 1, 'an unchanged file is not read again');
    fs.writeFileSync(file, '22');
    await w.check();
    assert.equal(w.current, 22);
    fs.writeFileSync(file, 'twenty-three');
    await w.check();
    await w.check();
    assert.equal(w.current, 22, 'the last good value stays');
    assert.deepEqual(invalid, [['not a number: twenty-three']], 'reported once per version');
    fs.rmSync(file);
    await w.check();
    assert.match(invalid[1]![0]!, /cannot be read: ENOENT/);
    assert.equal(w.current, 22);
    // Kubernetes swaps a symlink to a new directory: the path's stat follows it.
    fs.mkdirSync(path.join(dir, 'v2'));
    fs.writeFileSync(path.join(dir, 'v2', 'n.json'), '333');
    fs.symlinkSync(path.join(dir, 'v2', 'n.json'), file);
    await w.check();
    assert.equal(w.current, 333);
    assert.deepEqual(changes.at(-1), [333, false]);
  } finally {
    w.stop();
  }
});
