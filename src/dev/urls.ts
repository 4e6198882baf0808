/** The lines `npm start` ends with in dev mode: where a newcomer goes next. */
import type { App } from '../app';
import type { Config } from '../config';

export function devUrls(config: Config, app: Pick<App, 'port' | 'adminToken' | 'fakeGraph'>): string[] {
  if (config.production || (config.role !== 'all' && config.role !== 'gateway')) return [];
  const host = ['0.0.0.0', '::', '127.0.0.1', '::1'].includes(config.host) ? 'localhost' : config.host;
  const base = `http://${host}:${app.port}`;
  const lines: string[] = [];
  if (app.fakeGraph) lines.push(`emulator: ${base}/emulator (chat with the bot as Messenger users)`);
  const token = config.adminToken ? 'sign in with ADMIN_TOKEN' : app.adminToken ? `sign in with the token ${app.adminToken}` : 'off: set ADMIN_TOKEN or ADMIN_USERS_FILE';
  lines.push(`admin app: ${base}/admin (${token})`);
  lines.push(`webhook: ${base}/webhook (FB_VERIFY_TOKEN and FB_APP_SECRET: the values in the warnings above, or yours)`);
  return lines;
}
