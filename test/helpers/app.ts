/** An in-process app (real HTTP, real Redis) for tests that need to look inside one role. */
import { startApp, type App, type AppOverrides } from '../../src/app';
import { loadConfig } from '../../src/config';
import { createLogger } from '../../src/log';
import { APP_SECRET, VERIFY_TOKEN } from './fb';
import { uniquePrefix } from './env';

export async function startTestApp(label: string, env: Record<string, string>, overrides: AppOverrides = {}): Promise<App & { url: string; prefix: string }> {
  const prefix = uniquePrefix(label);
  const config = loadConfig({
    NODE_ENV: 'test',
    PORT: '0',
    HOST: '127.0.0.1',
    FB_APP_SECRET: APP_SECRET,
    FB_VERIFY_TOKEN: VERIFY_TOKEN,
    FB_PAGE_ACCESS_TOKEN: 'token-any',
    REDIS_PREFIX: prefix,
    WORKER_POLL_MS: '5',
    CHATLOG_ENABLED: 'false',
    BOT: 'echo',
    ...env,
  });
  const app = await startApp(config, createLogger(process.env.TEST_LOG_LEVEL ?? 'silent'), overrides);
  return Object.assign(app, { url: `http://127.0.0.1:${app.port}`, prefix });
}
