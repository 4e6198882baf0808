/**
 * A small shop API for dev mode and tests: the order-status action's other end. Answers
 * like a real JSON API (404 with an error body for unknown orders, 400 for malformed
 * numbers) and can be slowed down or made to fail on cue.
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import express from 'express';

export interface Order {
  number: string;
  status: 'processing' | 'shipped' | 'out for delivery' | 'delivered' | 'cancelled';
  carrier?: string;
  eta?: string;
  items: string[];
}

export type CommerceFault = { kind: 'error'; status: number } | { kind: 'hang' };

export const SAMPLE_ORDERS: Order[] = [
  { number: 'SH-482913', status: 'shipped', carrier: 'DHL', eta: 'Thursday', items: ['sneakers'] },
  { number: 'SH-100200', status: 'processing', eta: 'next week', items: ['hoodie', 'socks'] },
  { number: 'SH-777777', status: 'delivered', carrier: 'UPS', eta: 'already delivered', items: ['jacket'] },
];

export class FakeCommerce {
  readonly orders = new Map<string, Order>();
  readonly calls: { path: string; at: number }[] = [];
  latencyMs = 0;
  private faults: CommerceFault[] = [];
  private server?: http.Server;

  constructor(orders: Order[] = SAMPLE_ORDERS) {
    for (const o of orders) this.orders.set(o.number, o);
  }

  /** The next `times` requests fail this way. */
  fail(fault: CommerceFault, times = 1): void {
    for (let i = 0; i < times; i++) this.faults.push(fault);
  }

  router(): express.Router {
    const r = express.Router();
    r.get('/orders/:number', async (req, res) => {
      this.calls.push({ path: req.path, at: Date.now() });
      const fault = this.faults.shift();
      if (fault?.kind === 'hang') return; // never answers: the caller's timeout decides
      if (this.latencyMs) await new Promise((ok) => setTimeout(ok, this.latencyMs));
      if (fault?.kind === 'error') return void res.status(fault.status).json({ error: { code: 'unavailable', message: 'the order service is unavailable' } });
      const number = String(req.params.number).toUpperCase();
      if (!/^SH-\d{6}$/.test(number)) return void res.status(400).json({ error: { code: 'bad_request', message: 'order numbers look like SH-123456' } });
      const order = this.orders.get(number);
      if (!order) return void res.status(404).json({ error: { code: 'not_found', message: `no order ${number}` } });
      res.json(order);
    });
    return r;
  }

  async listen(): Promise<string> {
    const app = express();
    app.use(this.router());
    this.server = http.createServer(app);
    await new Promise<void>((ok) => this.server!.listen(0, '127.0.0.1', ok));
    return `http://127.0.0.1:${(this.server.address() as AddressInfo).port}`;
  }

  async close(): Promise<void> {
    this.server?.closeAllConnections();
    await new Promise<void>((ok) => (this.server ? this.server.close(() => ok()) : ok()));
  }
}

/** The order-status action for a commerce API at `baseUrl` (the dev-mode default and the tests'). */
export function orderStatusAction(baseUrl: string) {
  return {
    method: 'GET' as const,
    url: `${baseUrl}/orders/{{orderNumber}}`,
    timeoutMs: 2_000,
    retries: 1,
    answer: 'Order {{orderNumber}} is {{result.status}}. Expected: {{result.eta}}.',
    notFound: "I couldn't find an order {{orderNumber}}. Could you check the number? It looks like SH-123456.",
    error: "Sorry, I can't reach our order system right now. Please try again in a few minutes, or ask for a person.",
  };
}
