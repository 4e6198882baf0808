/**
 * Runs a real PostgreSQL server from Debian's binaries (`/usr/lib/postgresql/<v>/bin`) in a
 * directory of its own on a private port, for the tests and the bench. initdb and pg_ctl
 * refuse to run as root, so as root they run as the `postgres` user.
 */
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { freePort } from './redis-server';

export class PostgresMissingError extends Error {
  override readonly name = 'PostgresMissingError';
  constructor() {
    super('PostgreSQL server binaries not found: run `sudo apt-get install -y postgresql`');
  }
}

export function postgresBinDir(): string | undefined {
  const base = '/usr/lib/postgresql';
  if (!fs.existsSync(base)) return undefined;
  const versions = fs
    .readdirSync(base)
    .filter((v) => fs.existsSync(path.join(base, v, 'bin', 'initdb')))
    .sort((a, b) => Number(b) - Number(a));
  return versions[0] ? path.join(base, versions[0], 'bin') : undefined;
}

const isRoot = () => process.getuid?.() === 0;

function run(bin: string, args: string[], label: string): string {
  const [cmd, argv] = isRoot() ? ['runuser', ['-u', 'postgres', '--', bin, ...args]] : [bin, args];
  const r = spawnSync(cmd, argv as string[], { encoding: 'utf8', cwd: '/' });
  if (r.status !== 0) throw new Error(`${label} failed (${r.status}): ${r.stderr || r.stdout}`);
  return r.stdout;
}

export class PostgresProcess {
  /** durable = false (tests) turns fsync off for speed; the bench runs durable. */
  constructor(
    readonly port: number,
    readonly dataDir: string,
    private readonly bin: string,
    private readonly durable = false,
  ) {}

  get version(): string {
    return spawnSync(path.join(this.bin, 'postgres'), ['--version'], { encoding: 'utf8' }).stdout.trim();
  }

  get url(): string {
    return this.urlFor('postgres');
  }

  urlFor(database: string): string {
    return `postgres://postgres@127.0.0.1:${this.port}/${database}`;
  }

  async start(): Promise<void> {
    const speed = this.durable ? '' : ' -c fsync=off -c full_page_writes=off';
    const opts = `-p ${this.port} -c listen_addresses=127.0.0.1 -c unix_socket_directories='${this.dataDir}'${speed} -c max_connections=200`;
    run(path.join(this.bin, 'pg_ctl'), ['-D', this.dataDir, '-o', opts, '-l', path.join(this.dataDir, 'server.log'), '-w', '-t', '30', 'start'], 'pg_ctl start');
  }

  /** Fast shutdown: open connections are cut, as in an outage. */
  async stop(): Promise<void> {
    if (!fs.existsSync(path.join(this.dataDir, 'postmaster.pid'))) return;
    run(path.join(this.bin, 'pg_ctl'), ['-D', this.dataDir, '-m', 'fast', '-w', 'stop'], 'pg_ctl stop');
  }

  /** A fresh database: each test owns one. */
  async createDatabase(name: string): Promise<string> {
    if (!/^[a-z_][a-z0-9_]{0,62}$/.test(name)) throw new Error(`bad database name ${name}`);
    run(path.join(this.bin, 'psql'), ['-h', '127.0.0.1', '-p', String(this.port), '-U', 'postgres', '-d', 'postgres', '-qAt', '-c', `CREATE DATABASE ${name}`], 'create database');
    return this.urlFor(name);
  }
}

export async function startPostgres(dir: string, opts: { durable?: boolean } = {}): Promise<PostgresProcess> {
  const bin = postgresBinDir();
  if (!bin) throw new PostgresMissingError();
  const dataDir = path.join(dir, 'pgdata');
  fs.mkdirSync(dataDir, { recursive: true, mode: 0o700 });
  if (isRoot()) {
    // The postgres user must reach its data dir: open the parents for traversal only.
    for (let d = dir; d !== path.dirname(d); d = path.dirname(d)) if (d.startsWith('/tmp/')) fs.chmodSync(d, 0o711);
    spawnSync('chown', ['-R', 'postgres:postgres', dataDir]);
  }
  run(path.join(bin, 'initdb'), ['-D', dataDir, '-U', 'postgres', '--auth=trust', '-E', 'UTF8', '--locale=C.UTF-8', '--no-sync'], 'initdb');
  const p = new PostgresProcess(await freePort(), dataDir, bin, opts.durable ?? false);
  await p.start();
  return p;
}
