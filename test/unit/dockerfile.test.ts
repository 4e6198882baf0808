/**
 * The Dockerfile, checked offline (no Docker engine here): a supported Node LTS, the files its
 * build copies exist and are not ignored, only production dependencies ship and the code loads
 * no dev dependency unguarded, the tools are on the PATH as package.json's bin names them, the
 * healthcheck is compose's, the writable defaults point at /tmp. That the compiled build runs
 * (the app and every tool): test/e2e/build.test.ts.
 */
import assert from 'node:assert/strict';
import { builtinModules } from 'node:module';
import fs from 'node:fs';
import path from 'node:path';
import { test } from 'node:test';
import { parse } from 'yaml';

const ROOT = path.resolve(__dirname, '..', '..');
const pkg = JSON.parse(fs.readFileSync(path.join(ROOT, 'package.json'), 'utf8'));
/** Instructions, continuation lines joined, comments dropped. */
const instructions = fs
  .readFileSync(path.join(ROOT, 'Dockerfile'), 'utf8')
  .replace(/\\\n\s*/g, '')
  .split('\n')
  .filter((l) => l.trim() && !l.startsWith('#'));
const all = (op: string) => instructions.filter((l) => l.startsWith(`${op} `)).map((l) => l.slice(op.length + 1));

test('the image runs on a supported Node LTS, the same in both stages, and engines covers the Node tested here', () => {
  const bases = all('FROM').map((f) => f.split(' ')[0]!);
  assert.equal(bases.length, 2, 'build and runtime stages');
  assert.equal(new Set(bases).size, 1, bases.join(', '));
  const major = Number(/^node:(\d+)-/.exec(bases[0]!)?.[1]);
  // Even majors are LTS; on 2026-11-29 Node 24 is the active LTS and Node 20 is past its end of life.
  assert.ok(major >= 24 && major % 2 === 0, `node:${major} is a supported LTS`);
  const min = /^>=(\d+)\.(\d+)$/.exec(pkg.engines.node);
  assert.ok(min, `engines.node is a lower bound (${pkg.engines.node})`);
  const [maj, minor] = process.versions.node.split('.').map(Number) as [number, number];
  assert.ok(maj > Number(min[1]) || (maj === Number(min[1]) && minor >= Number(min[2])), `the Node running the tests (${process.version}) satisfies engines`);
  assert.ok(major >= Number(min[1]));
});

test('the build copies files that exist and are not in .dockerignore; only production dependencies ship', () => {
  const ignored = fs.readFileSync(path.join(ROOT, '.dockerignore'), 'utf8').split('\n').filter(Boolean);
  for (const copy of all('COPY').filter((c) => !c.startsWith('--from'))) {
    for (const src of copy.split(/\s+/).slice(0, -1)) {
      assert.ok(fs.existsSync(path.join(ROOT, src)), `${src} exists`);
      assert.ok(!ignored.includes(src) && !ignored.includes(src.split('/')[0]!), `${src} is in the build context`);
    }
  }
  const runs = all('RUN').join('\n');
  assert.match(runs, /npm ci\b/);
  assert.match(runs, /npm run build && npm prune --omit=dev\b/);
  assert.match(pkg.scripts.build, /chmod \+x dist\/src\/cli\/index\.js/, 'the bin is executable');
  for (const dev of ['@electric-sql/pglite', 'pino-pretty', 'tsx', 'typescript']) assert.ok(pkg.devDependencies[dev] && !pkg.dependencies[dev], `${dev} is a dev dependency: not in the image`);
});

/** Every module src/ imports, with how. */
function imports(): { file: string; module: string; dynamic: boolean }[] {
  const files = (dir: string): string[] => fs.readdirSync(dir, { withFileTypes: true }).flatMap((d) => (d.isDirectory() ? files(path.join(dir, d.name)) : d.name.endsWith('.ts') ? [path.join(dir, d.name)] : []));
  return files(path.join(ROOT, 'src')).flatMap((file) => {
    const text = fs.readFileSync(file, 'utf8');
    return [...[...text.matchAll(/^import (?!type )[^;]*?from '([^']+)'/gm)].map((m) => ({ file, module: m[1]!, dynamic: false })), ...[...text.matchAll(/await import\('([^']+)'\)/g)].map((m) => ({ file, module: m[1]!, dynamic: true }))];
  });
}

test('the code loads only production dependencies, but for dev-mode extras imported on demand and guarded', () => {
  const pkgOf = (m: string) => (m.startsWith('@') ? m.split('/').slice(0, 2).join('/') : m.split('/')[0]!);
  for (const { file, module, dynamic } of imports()) {
    if (module.startsWith('.') || module.startsWith('node:') || builtinModules.includes(module)) continue;
    const name = pkgOf(module);
    if (pkg.dependencies[name]) continue;
    assert.ok(pkg.devDependencies[name], `${path.relative(ROOT, file)}: ${name} is a dependency`);
    assert.ok(dynamic, `${path.relative(ROOT, file)} imports the dev dependency ${name} only when needed (the image lacks it)`);
    assert.match(fs.readFileSync(file, 'utf8'), new RegExp(`import\\('${module}'\\)[^;]*\\.catch|try \\{[\\s\\S]{0,80}import\\('${module}'\\)`), `${path.relative(ROOT, file)}: a missing ${name} is handled`);
  }
});

test("the tools are on the PATH as package.json names them; the healthcheck is compose's; defaults are writable", () => {
  const [[name, bin]] = Object.entries(pkg.bin as Record<string, string>) as [[string, string]];
  assert.equal(bin, 'dist/src/cli/index.js');
  assert.ok(fs.readFileSync(path.join(ROOT, 'src', 'cli', 'index.ts'), 'utf8').startsWith('#!/usr/bin/env node\n'), 'the bin has a shebang');
  assert.ok(all('RUN').includes(`ln -s /app/${bin} /usr/local/bin/${name}`), `${name} links to the bin`);
  assert.equal(all('WORKDIR').at(-1), '/app');
  assert.equal(all('USER').at(-1), 'node');
  assert.deepEqual(JSON.parse(all('CMD').at(-1)!), ['node', 'dist/src/main.js']);
  assert.ok(fs.existsSync(path.join(ROOT, 'src', 'main.ts')));
  const compose = parse(fs.readFileSync(path.join(ROOT, 'docker-compose.yml'), 'utf8'), { merge: true });
  const healthcheck = /CMD (\[.*\])$/.exec(all('HEALTHCHECK')[0]!)![1]!;
  assert.deepEqual(['CMD', ...JSON.parse(healthcheck)], compose.services.gateway.healthcheck.test, 'the same check in the image and in compose');
  const env = Object.fromEntries(all('ENV').flatMap((e) => e.split(/\s+/).map((kv) => kv.split('=') as [string, string])));
  assert.equal(env.NODE_ENV, 'production');
  assert.match(env.DATA_DIR!, /^\/tmp\//, 'DATA_DIR is writable with a read-only root filesystem');
  // The model the build trains is the one NLU_MODEL names.
  assert.match(all('RUN').join('\n'), new RegExp(`train --out ${path.relative('/app', env.NLU_MODEL!)}\\b`));
});
