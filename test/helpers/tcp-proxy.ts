/**
 * A TCP load balancer for tests: one address in front of several gateways, as a Kubernetes
 * Service or an L4 balancer is in production. Each new connection goes to a live backend
 * (the first live one, or round robin); a backend that refuses is marked dead and the next is
 * tried. When a backend dies, its connections are cut (the widget sees its socket close) and
 * new ones go elsewhere.
 */
import net from 'node:net';

export class TcpProxy {
  private server?: net.Server;
  private next = 0;
  private readonly dead = new Set<number>();
  private readonly open = new Map<number, Set<net.Socket>>();
  private readonly clients = new Set<net.Socket>();
  /** Connections made to each backend so far. */
  readonly served = new Map<number, number>();

  constructor(
    private readonly backends: readonly number[],
    private readonly strategy: 'first' | 'round-robin' = 'round-robin',
  ) {}

  async listen(): Promise<string> {
    this.server = net.createServer((client) => {
      this.clients.add(client);
      client.once('close', () => this.clients.delete(client));
      this.route(client, 0);
    });
    this.server.maxConnections = 100_000;
    await new Promise<void>((resolve) => this.server!.listen(0, '127.0.0.1', 511 * 4, resolve));
    return `http://127.0.0.1:${(this.server.address() as net.AddressInfo).port}`;
  }

  /** Backends with connections open now. */
  holding(): number[] {
    return [...this.open].filter(([, s]) => s.size > 0).map(([p]) => p);
  }

  private pick(): number | undefined {
    const alive = this.backends.filter((b) => !this.dead.has(b));
    if (!alive.length) return undefined;
    if (this.strategy === 'first') return alive[0];
    return alive[this.next++ % alive.length];
  }

  private route(client: net.Socket, tries: number): void {
    const port = this.pick();
    if (port === undefined || tries > this.backends.length) return void client.destroy();
    client.pause();
    const upstream = net.connect(port, '127.0.0.1');
    let connected = false;
    upstream.once('connect', () => {
      connected = true;
      this.served.set(port, (this.served.get(port) ?? 0) + 1);
      const set = this.open.get(port) ?? new Set();
      this.open.set(port, set);
      set.add(upstream);
      upstream.once('close', () => set.delete(upstream));
      client.pipe(upstream);
      upstream.pipe(client);
      client.resume();
    });
    upstream.on('error', (err: NodeJS.ErrnoException) => {
      if (!connected && err.code === 'ECONNREFUSED') {
        this.dead.add(port);
        return this.route(client, tries + 1);
      }
      client.destroy();
    });
    upstream.on('close', () => connected && client.destroy());
    client.on('error', () => upstream.destroy());
    client.on('close', () => upstream.destroy());
  }

  async close(): Promise<void> {
    for (const set of this.open.values()) for (const s of set) s.destroy();
    for (const c of this.clients) c.destroy();
    await new Promise<void>((resolve) => (this.server ? this.server.close(() => resolve()) : resolve()));
  }
}
