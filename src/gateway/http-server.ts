/**
 * The node HTTP server every role listens with, and how it closes. A request must arrive
 * whole — headers and body — within HTTP_REQUEST_TIMEOUT_MS, or node answers 408 and cuts
 * the connection: a client dripping a body one byte at a time no longer holds a connection
 * for as long as it likes. Node stops enforcing that timeout once the server is closing, so
 * the drain cuts by itself every connection that is not being answered for a request that
 * arrived whole: nothing of a request still arriving was queued (the webhook answers only
 * after its events are in Redis), and its sender retries.
 */
import http, { type IncomingMessage, type RequestListener } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';

export interface HttpServer {
  readonly server: http.Server;
  readonly port: number;
  /** Stops accepting connections, lets requests that arrived whole be answered, cuts the rest. */
  close(): Promise<void>;
}

export interface ListenOptions {
  port: number;
  host: string;
  requestTimeoutMs: number;
}

export async function listen(handler: RequestListener, opts: ListenOptions): Promise<HttpServer> {
  const server = http.createServer(
    {
      requestTimeout: opts.requestTimeoutMs,
      headersTimeout: opts.requestTimeoutMs,
      // Node checks the timeouts on this period (30 s by default): often enough to keep them.
      connectionsCheckingInterval: Math.min(1_000, opts.requestTimeoutMs / 2),
    },
    handler,
  );
  server.keepAliveTimeout = 65_000; // longer than common load-balancer idle timeouts
  // What node's HTTP parser refuses never reaches a handler: node answers it with a status and no
  // body. Answer like every route does, with a JSON error saying what was wrong.
  server.on('clientError', (err: NodeJS.ErrnoException, socket: Socket) => {
    // As node does: not over a response already under way on this connection (its headers sent).
    const inFlight = (socket as Socket & { _httpMessage?: { headersSent?: boolean } })._httpMessage;
    if (socket.writable && !inFlight?.headersSent && err.code !== 'ECONNRESET') {
      const [status, error] = clientErrorAnswer(err.code);
      const payload = JSON.stringify({ error });
      socket.write(`HTTP/1.1 ${status} ${http.STATUS_CODES[status]}\r\ncontent-type: application/json; charset=utf-8\r\ncontent-length: ${Buffer.byteLength(payload)}\r\nconnection: close\r\n\r\n${payload}`);
    }
    socket.destroy(err);
  });
  // Each open connection, with the request it is serving (if any).
  const current = new Map<Socket, IncomingMessage | undefined>();
  server.on('connection', (socket: Socket) => {
    current.set(socket, undefined);
    socket.once('close', () => current.delete(socket));
  });
  server.on('request', (req: IncomingMessage, res: http.ServerResponse) => {
    current.set(req.socket, req);
    res.once('close', () => {
      if (current.get(req.socket) === req) current.set(req.socket, undefined);
    });
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(opts.port, opts.host, () => resolve());
  });
  return {
    server,
    port: (server.address() as AddressInfo).port,
    async close() {
      const closed = new Promise<void>((resolve) => server.close(() => resolve()));
      // Idle keep-alive connections, requests whose headers or body are still arriving.
      for (const [socket, req] of current) if (!req?.complete) socket.destroy();
      // A request that arrived whole is answered, within the same bound as its arrival.
      const last = setTimeout(() => server.closeAllConnections(), opts.requestTimeoutMs);
      last.unref();
      await closed;
      clearTimeout(last);
    },
  };
}

/** The status and message for a request node's HTTP parser refused, by its error code. */
function clientErrorAnswer(code: string | undefined): [number, string] {
  if (code === 'HPE_HEADER_OVERFLOW') return [431, 'the request line and headers are larger than 16 KB (a URL that long is not one this server takes)'];
  if (code === 'ERR_HTTP_REQUEST_TIMEOUT' || code === 'HPE_HEADERS_TIMEOUT') return [408, 'the request did not arrive whole in time (HTTP_REQUEST_TIMEOUT_MS)'];
  return [400, `not a valid HTTP request${code ? ` (${code})` : ''}`];
}
