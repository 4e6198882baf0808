#!/usr/bin/env node
// Entry of `npm start`, `npm test` and the tools (`npm run train` …) on a fresh clone:
// installs what is missing (npm dependencies; Debian's redis-server when run as root or with
// sudo), reads `.env` for local runs, then runs the command. It runs before node_modules
// exists, so it uses Node's built-ins only.
import { spawn, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const [command, ...args] = process.argv.slice(2);
const say = (msg) => process.stderr.write(`[bootstrap] ${msg}\n`);

function run(cmd, argv, env = process.env) {
  const r = spawnSync(cmd, argv, { cwd: root, stdio: 'inherit', env });
  if (r.status !== 0) {
    say(`\`${cmd} ${argv.join(' ')}\` failed (exit ${r.status ?? r.signal})`);
    process.exit(1);
  }
}

const have = (bin) => spawnSync('sh', ['-c', `command -v ${bin} || test -x /usr/sbin/${bin} || ls /usr/lib/postgresql/*/bin/${bin}`], { stdio: 'ignore' }).status === 0;

function ensureNodeModules() {
  const marker = path.join(root, 'node_modules', '.package-lock.json');
  const lock = path.join(root, 'package-lock.json');
  if (fs.existsSync(marker) && fs.statSync(marker).mtimeMs >= fs.statSync(lock).mtimeMs) return;
  say('installing npm dependencies (npm ci)');
  run('npm', ['ci', '--no-audit', '--no-fund']);
}

/** needs: [{ bin, pkg }] — Debian packages providing each binary. */
function ensureDebianPackages(needs) {
  const missing = needs.filter((n) => !have(n.bin));
  if (missing.length === 0) return;
  const pkgs = [...new Set(missing.map((n) => n.pkg))];
  const isRoot = process.getuid?.() === 0;
  const sudo = !isRoot && have('sudo') && spawnSync('sudo', ['-n', 'true'], { stdio: 'ignore' }).status === 0;
  if ((!isRoot && !sudo) || !have('apt-get')) {
    say(`${missing.map((n) => n.bin).join(', ')} missing: install with \`sudo apt-get install -y ${pkgs.join(' ')}\` and run again`);
    process.exit(1);
  }
  const pre = isRoot ? [] : ['-n', 'apt-get'];
  const apt = isRoot ? 'apt-get' : 'sudo';
  const env = { ...process.env, DEBIAN_FRONTEND: 'noninteractive' };
  say(`installing Debian packages: ${pkgs.join(' ')}`);
  run(apt, [...pre, 'update', '-qq'], env);
  run(apt, [...pre, 'install', '-y', '-qq', '--no-install-recommends', ...pkgs], env);
}

const SERVICES = [
  { bin: 'redis-server', pkg: 'redis-server' },
  { bin: 'redis-cli', pkg: 'redis-tools' },
  { bin: 'initdb', pkg: 'postgresql' },
  { bin: 'runuser', pkg: 'util-linux' },
  // The admin app's browser tests drive Debian's Chromium (never a downloaded browser).
  { bin: 'chromium', pkg: 'chromium' },
  // Certificates for the Redis TLS test.
  { bin: 'openssl', pkg: 'openssl' },
];

/**
 * `.env` in the project root (KEY=value lines), for `npm start` and the tools, never for the
 * tests: Node's own loader (process.loadEnvFile, Node ≥ 20.12), and a variable already set
 * in the environment wins over the file.
 */
function loadDotEnv() {
  const file = path.join(root, '.env');
  if (!fs.existsSync(file)) return;
  if (typeof process.loadEnvFile !== 'function') {
    say(`.env needs Node ≥ 20.12 (process.loadEnvFile); this is ${process.version}`);
    process.exit(1);
  }
  process.loadEnvFile(file);
  say('read .env (variables set in the environment win)');
}

/** A tool of src/cli, run through the one dispatcher (the `ordered-chatbot` bin of the image). */
const tool = (name) => ({ packages: () => [], argv: ['--import', 'tsx', 'src/cli/index.ts', name], dotenv: true });

const COMMANDS = {
  start: {
    packages: () => (process.env.REDIS_URL || process.env.REDIS_CLUSTER_NODES ? [] : [{ bin: 'redis-server', pkg: 'redis-server' }]),
    argv: ['--import', 'tsx', 'src/main.ts'],
    dotenv: true,
  },
  test: {
    packages: () => SERVICES,
    argv: ['--import', 'tsx', 'test/harness/run.ts'],
  },
  bench: {
    packages: () => SERVICES,
    argv: ['--import', 'tsx', 'bench/run.ts'],
  },
  chaos: {
    packages: () => SERVICES,
    argv: ['--import', 'tsx', 'bench/chaos.ts'],
  },
  migrate: tool('migrate'),
  train: tool('train'),
  eval: tool('eval'),
  export: tool('export'),
  'admin-user': tool('admin-user'),
  forget: tool('forget'),
};

const spec = COMMANDS[command];
if (!spec) {
  say(`usage: bootstrap.mjs ${Object.keys(COMMANDS).join('|')} [args…]`);
  process.exit(2);
}
if (spec.dotenv) loadDotEnv(); // first: REDIS_URL in .env means no redis-server is needed
ensureNodeModules();
ensureDebianPackages(spec.packages());
const child = spawn(process.execPath, [...spec.argv, ...args], { cwd: root, stdio: 'inherit' });
for (const sig of ['SIGINT', 'SIGTERM']) process.on(sig, () => child.kill(sig));
child.on('exit', (code, signal) => process.exit(code ?? (signal ? 1 : 0)));
