/**
 * Runs real `redis-server` processes: the private instance of `npm start`'s dev mode and the
 * standalone and cluster servers the tests start. AOF (`appendfsync everysec`) is always on.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';

export class RedisServerMissingError extends Error {
  override readonly name = 'RedisServerMissingError';
  constructor() {
    super('redis-server is not installed: run `sudo apt-get install -y redis-server` (or set REDIS_URL) and start again');
  }
}

export function findBinary(name: string): string | undefined {
  const r = spawnSync('sh', ['-c', `command -v ${name} || ls /usr/sbin/${name} /usr/local/bin/${name} 2>/dev/null`], { encoding: 'utf8' });
  const found = r.stdout
    .split('\n')
    .map((l) => l.trim())
    .find((l) => l.startsWith('/'));
  return found;
}

function listen(port: number): Promise<net.Server> {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.unref();
    srv.once('error', reject);
    srv.listen(port, '127.0.0.1', () => resolve(srv));
  });
}

const close = (srv: net.Server) => new Promise<void>((resolve) => srv.close(() => resolve()));

export async function freePort(): Promise<number> {
  const srv = await listen(0);
  const { port } = srv.address() as net.AddressInfo;
  await close(srv);
  return port;
}

/**
 * `count` distinct free ports, held open together while they are chosen so that no two are
 * the same. With `clusterBus`, each port's Redis Cluster bus port (port + 10000) must be a
 * valid free port too, so ports stay at or below 55535.
 */
export async function freePorts(count: number, clusterBus = false): Promise<number[]> {
  const held: net.Server[] = [];
  const ports: number[] = [];
  try {
    while (ports.length < count) {
      const srv = await listen(0);
      held.push(srv);
      const { port } = srv.address() as net.AddressInfo;
      if (clusterBus) {
        if (port > 55_535) continue;
        const bus = await listen(port + 10_000).catch(() => undefined);
        if (!bus) continue;
        held.push(bus);
      }
      ports.push(port);
    }
    return ports;
  } finally {
    await Promise.all(held.map(close));
  }
}

const resp = (args: string[]) => `*${args.length}\r\n${args.map((a) => `$${Buffer.byteLength(a)}\r\n${a}\r\n`).join('')}`;

/** Sends one command in RESP (after AUTH, with a password) and returns the raw reply text. */
export function rawCommand(port: number, args: string[], timeoutMs = 1_000, password?: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const sock = net.connect(port, '127.0.0.1');
    let data = '';
    let authed = password === undefined;
    const done = (err?: Error) => {
      clearTimeout(timer);
      sock.destroy();
      if (err) reject(err);
      else resolve(data);
    };
    const timer = setTimeout(() => done(new Error(`redis on ${port} did not answer`)), timeoutMs);
    sock.on('connect', () => sock.write(`${password !== undefined ? resp(['AUTH', password]) : ''}${resp(args)}`));
    sock.on('data', (chunk) => {
      data += chunk.toString();
      if (!authed && data.startsWith('+OK\r\n')) (data = data.slice(5)), (authed = true);
      const m = /^\$(\d+)\r\n/.exec(data);
      if ((m && data.length >= m[0].length + Number(m[1]) + 2) || (!m && data.endsWith('\r\n') && data[0] !== '$')) done();
    });
    sock.on('error', (err) => done(err));
  });
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function waitFor(what: string, timeoutMs: number, probe: () => Promise<boolean>): Promise<void> {
  const end = Date.now() + timeoutMs;
  for (;;) {
    if (await probe().catch(() => false)) return;
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await sleep(50);
  }
}

export interface RedisServerOptions {
  dir: string;
  port?: number;
  cluster?: boolean;
  /** requirepass (and masterauth, for replicas): a server that refuses clients without it. */
  password?: string;
  extraArgs?: string[];
}

export class RedisProcess {
  private child?: ChildProcess;
  private exited?: Promise<void>;
  constructor(
    readonly port: number,
    readonly dir: string,
    private readonly args: string[],
    readonly password?: string,
  ) {}

  get url(): string {
    return `redis://127.0.0.1:${this.port}`;
  }

  get pid(): number | undefined {
    return this.child?.pid;
  }

  get running(): boolean {
    return this.child !== undefined && this.child.exitCode === null && this.child.signalCode === null;
  }

  async start(): Promise<void> {
    const bin = findBinary('redis-server');
    if (!bin) throw new RedisServerMissingError();
    fs.mkdirSync(this.dir, { recursive: true });
    const child = spawn(bin, this.args, { cwd: this.dir, stdio: 'ignore' });
    this.child = child;
    this.exited = new Promise((resolve) => child.once('exit', () => resolve()));
    await waitFor(`redis-server on port ${this.port}`, 10_000, async () => {
      if (!this.running) throw new Error(`redis-server exited; see ${path.join(this.dir, 'redis.log')}`);
      return (await rawCommand(this.port, ['PING'], 1_000, this.password)).startsWith('+PONG');
    });
  }

  /** Graceful stop: Redis fsyncs its AOF on SIGTERM. */
  async stop(): Promise<void> {
    if (!this.running) return;
    this.child!.kill('SIGTERM');
    await this.exited;
  }

  /** Crash: SIGKILL, losing at most the last second of AOF. */
  async kill(): Promise<void> {
    if (!this.running) return;
    this.child!.kill('SIGKILL');
    await this.exited;
  }
}

export async function startRedis(opts: RedisServerOptions): Promise<RedisProcess> {
  const port = opts.port ?? (await freePort());
  const args = [
    '--port',
    String(port),
    '--bind',
    '127.0.0.1',
    '--dir',
    opts.dir,
    '--appendonly',
    'yes',
    '--appendfsync',
    'everysec',
    '--save',
    '',
    '--protected-mode',
    'no',
    '--daemonize',
    'no',
    '--logfile',
    path.join(opts.dir, 'redis.log'),
    ...(opts.cluster ? ['--cluster-enabled', 'yes', '--cluster-config-file', 'nodes.conf', '--cluster-node-timeout', '2000'] : []),
    // Replicas sync at once instead of after Redis 7's default 5 s wait for more replicas.
    '--repl-diskless-sync-delay',
    '0',
    ...(opts.password !== undefined ? ['--requirepass', opts.password, '--masterauth', opts.password] : []),
    ...(opts.extraArgs ?? []),
  ];
  const p = new RedisProcess(port, opts.dir, args, opts.password);
  await p.start();
  return p;
}

export interface RedisCluster {
  nodes: RedisProcess[];
  seeds: { host: string; port: number }[];
  stop(): Promise<void>;
}

/** A local cluster: `masters` masters with `replicas` replicas each, slots spread by redis-cli. */
export async function startRedisCluster(opts: { dir: string; masters?: number; replicas?: number; password?: string }): Promise<RedisCluster> {
  const masters = opts.masters ?? 3;
  const replicas = opts.replicas ?? 0;
  const ports = await freePorts(masters * (1 + replicas), true);
  const pw = opts.password;
  const nodes = await Promise.all(ports.map((port, i) => startRedis({ dir: path.join(opts.dir, `node-${i}`), cluster: true, port, ...(pw !== undefined ? { password: pw } : {}) })));
  const cli = findBinary('redis-cli');
  if (!cli) throw new RedisServerMissingError();
  const create = spawnSync(cli, [...(pw !== undefined ? ['-a', pw, '--no-auth-warning'] : []), '--cluster', 'create', ...nodes.map((n) => `127.0.0.1:${n.port}`), '--cluster-replicas', String(replicas), '--cluster-yes'], {
    encoding: 'utf8',
  });
  if (create.status !== 0) throw new Error(`redis-cli --cluster create failed: ${create.stdout}\n${create.stderr}`);
  await waitFor('cluster_state:ok on every node', 20_000, async () => {
    const infos = await Promise.all(nodes.map((n) => rawCommand(n.port, ['CLUSTER', 'INFO'], 1_000, pw)));
    return infos.every((i) => i.includes('cluster_state:ok'));
  });
  // A replica that never finished its first sync cannot be promoted: wait for every link.
  await waitFor('every replica in sync with its master', 20_000, async () => {
    const infos = await Promise.all(nodes.map((n) => rawCommand(n.port, ['INFO', 'replication'], 1_000, pw)));
    return infos.filter((i) => i.includes('role:slave')).length === masters * replicas && infos.every((i) => !i.includes('role:slave') || i.includes('master_link_status:up'));
  });
  return {
    nodes,
    seeds: nodes.map((n) => ({ host: '127.0.0.1', port: n.port })),
    stop: async () => {
      await Promise.all(nodes.map((n) => n.stop()));
    },
  };
}
