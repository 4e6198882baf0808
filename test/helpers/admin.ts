/** An in-process app with the admin API, the chatlog on the test PostgreSQL and the dialog bot, plus admin users. */
import fs from 'node:fs';
import path from 'node:path';
import { hashPassword } from '../../src/admin/users';
import { startTestApp } from './app';
import { redisTargets, testPostgres, tmpDir } from './env';
import { body, post, text } from './fb';
import { waitUntil } from './wait';

export const ADMIN_TOKEN = 'admin-token-0123456789abcdef';
export const PASSWORD = 'correct horse battery staple';
export const USERS = [
  { name: 'root', role: 'admin', pages: ['*'] },
  { name: 'ann', role: 'agent', pages: ['101'] },
  { name: 'vic', role: 'viewer', pages: ['101'] },
  { name: 'bob', role: 'agent', pages: ['102'] },
  { name: 'cat', role: 'agent', pages: ['101'] },
];

export async function startAdminApp(label: string, env: Record<string, string> = {}) {
  const dir = tmpDir(label);
  const pagesFile = path.join(dir, 'pages.json');
  fs.writeFileSync(
    pagesFile,
    JSON.stringify({
      pages: [
        { id: '101', accessToken: 'token-101' },
        { id: '102', accessToken: 'token-102' },
      ],
    }),
  );
  const usersFile = path.join(dir, 'users.json');
  const hash = hashPassword(PASSWORD);
  fs.writeFileSync(usersFile, JSON.stringify({ users: USERS.map((u) => ({ ...u, passwordHash: hash })) }));
  const databaseUrl = await testPostgres().database(label);
  const app = await startTestApp(label, {
    ...redisTargets()[0]!.env,
    ROLE: 'all',
    BOT: 'dialog',
    CHATLOG_ENABLED: 'true',
    CHATLOG_POLL_MS: '20',
    DATABASE_URL: databaseUrl,
    DATA_DIR: dir,
    ADMIN_TOKEN,
    ADMIN_USERS_FILE: usersFile,
    PAGES_FILE: pagesFile,
    FB_PAGE_ACCESS_TOKEN: '',
    BOT_MARK_SEEN: 'false',
    NLU_RELOAD_MS: '200',
    EXPORT_ID_SECRET: 'admin-test-export-key-42',
    ...env,
  });
  /** `from`: the client address, as X-Forwarded-For (honoured when the app runs with TRUST_PROXY). */
  const api = async (pathname: string, opts: { token?: string; method?: string; json?: unknown; from?: string } = {}) => {
    const res = await fetch(`${app.url}/admin/api${pathname}`, {
      method: opts.method ?? (opts.json === undefined ? 'GET' : 'POST'),
      headers: { ...(opts.token !== '' ? { authorization: `Bearer ${opts.token ?? ADMIN_TOKEN}` } : {}), 'content-type': 'application/json', ...(opts.from ? { 'x-forwarded-for': opts.from } : {}) },
      ...(opts.json !== undefined ? { body: JSON.stringify(opts.json) } : {}),
    });
    const raw = await res.text();
    let json: any;
    try {
      json = JSON.parse(raw);
    } catch {
      json = raw;
    }
    return { status: res.status, json, headers: res.headers };
  };
  const signIn = async (user: string, from?: string): Promise<string> => {
    const r = await api('/session', { token: '', json: { user, password: PASSWORD }, ...(from ? { from } : {}) });
    if (r.status !== 201) throw new Error(`sign-in of ${user} failed: ${r.status} ${JSON.stringify(r.json)}`);
    return r.json.token;
  };
  let ts = Date.now();
  /** A user message through the signed webhook, waiting until the chatlog has it. */
  const say = async (page: string, user: string, words: string) => {
    ts = Math.max(ts + 1, Date.now()); // real send times: agent actions are stamped with the server's clock
    const mid = `m-${user}-${ts}`;
    await post(app.url, body([text(page, user, ts, mid, words)]));
    await waitUntil(`chatlog row ${mid}`, async () => (await app.db!.query('SELECT 1 FROM messages WHERE mid = $1', [mid])).length === 1, 15_000);
    return mid;
  };
  /** Rewrites ADMIN_USERS_FILE as an operator would (every user gets the test password unless given a hash). */
  const writeUsers = (users: { name: string; role: string; pages: string[]; passwordHash?: string }[] | string) =>
    fs.writeFileSync(usersFile, typeof users === 'string' ? users : JSON.stringify({ users: users.map((u) => ({ passwordHash: hash, ...u })) }));
  return Object.assign(app, { api, signIn, say, databaseUrl, usersFile, writeUsers });
}
