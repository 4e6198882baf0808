/** The HTTP ceiling: an express endpoint that reads the body and answers 200, nothing else. */
import express from 'express';

const app = express();
app.post('/webhook', express.raw({ type: () => true, limit: '1mb' }), (_req, res) => {
  res.json({ status: 'EVENT_RECEIVED' });
});
const server = app.listen(0, '127.0.0.1', () => {
  const { port } = server.address() as { port: number };
  process.stdout.write(`${JSON.stringify({ msg: 'bench-ready', port })}\n`);
});
server.keepAliveTimeout = 65_000;
process.on('SIGTERM', () => server.close(() => process.exit(0)));
