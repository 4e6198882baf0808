/**
 * Meta's data-deletion callback (required of apps that store user data): Facebook POSTs a
 * form with `signed_request` — `<base64url HMAC-SHA256 of the payload part>.<base64url JSON
 * {"algorithm":"HMAC-SHA256","user_id":…,"issued_at":…}>`, signed with the app secret — when
 * a person removes the app and asks for their data to be deleted. That `user_id` is app-scoped
 * (ASID), while Messenger knows the person by page-scoped ids (PSIDs): with FB_APP_ID the ASID
 * is resolved through the Graph API's `ids_for_pages`, and we erase, as one request, each PSID's
 * conversation on a page we serve plus whatever we hold under the ASID itself on every channel;
 * then answer `{url, confirmation_code}`, and serve the status page at that URL.
 * https://developers.facebook.com/docs/development/create-an-app/app-dashboard/data-deletion-callback
 */
import crypto from 'node:crypto';
import express from 'express';
import { deletionRequest } from '../../chatlog/forget';
import type { Subject } from '../../chatlog/forget';
import type { SqlRunner } from '../../chatlog/sql';
import type { Logger } from '../../log';
import { ForgetUnavailableError, type Forgetter } from '../../privacy/forgetter';
import type { PageScopedId } from './ids-for-pages';

export type SignedRequest = { ok: true; userId: string; issuedAt?: number } | { ok: false; reason: string };

const b64url = (s: string): Buffer | undefined => (/^[A-Za-z0-9_-]*={0,2}$/.test(s) ? Buffer.from(s.replace(/=+$/, ''), 'base64url') : undefined);

/** Verifies and reads a signed_request; the signature covers the payload's base64url text. */
export function parseSignedRequest(signed: unknown, appSecret: string): SignedRequest {
  if (typeof signed !== 'string' || signed.length > 8_192) return { ok: false, reason: 'signed_request is required' };
  const parts = signed.split('.');
  if (parts.length !== 2) return { ok: false, reason: 'signed_request must be <signature>.<payload>' };
  const [sigPart, payloadPart] = parts as [string, string];
  const sig = b64url(sigPart);
  const expected = crypto.createHmac('sha256', appSecret).update(payloadPart).digest();
  if (!sig || sig.length !== expected.length || !crypto.timingSafeEqual(sig, expected)) return { ok: false, reason: 'signature does not match' };
  let payload: { algorithm?: unknown; user_id?: unknown; issued_at?: unknown };
  try {
    payload = JSON.parse(b64url(payloadPart)?.toString('utf8') ?? '');
  } catch {
    return { ok: false, reason: 'payload is not JSON' };
  }
  if (typeof payload.algorithm !== 'string' || payload.algorithm.toUpperCase() !== 'HMAC-SHA256') return { ok: false, reason: 'algorithm must be HMAC-SHA256' };
  const userId = typeof payload.user_id === 'number' ? String(payload.user_id) : payload.user_id;
  if (typeof userId !== 'string' || !/^[A-Za-z0-9_.-]{1,128}$/.test(userId)) return { ok: false, reason: 'user_id is required' };
  return { ok: true, userId, ...(typeof payload.issued_at === 'number' ? { issuedAt: payload.issued_at } : {}) };
}

const escapeHtml = (s: string) => s.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);

function statusPage(title: string, lines: string[]): string {
  return (
    `<!doctype html><html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1"><title>${escapeHtml(title)}</title></head>` +
    `<body><main><h1>${escapeHtml(title)}</h1>${lines.map((l) => `<p>${escapeHtml(l)}</p>`).join('')}</main></body></html>`
  );
}

export interface DataDeletionDeps {
  appSecret: string;
  /** Absent when this process has no chatlog database: the callback answers 503. */
  forgetter?: Forgetter;
  db?: SqlRunner;
  logger: Logger;
  /** The public base URL of this deployment, for the status link (else taken from the request). */
  publicUrl?: string;
  /**
   * With FB_APP_ID: the user's PSIDs on the business's pages (Graph's ids_for_pages), and which
   * pages this deployment serves. A failed look-up answers 503 before anything is erased.
   */
  messenger?: { pageScopedIds(asid: string): Promise<PageScopedId[]>; serves(page: string): boolean };
}

/** What one callback erases: the id as sent, on every channel, and each PSID it resolves to on a page we serve. */
async function subjectsOf(asid: string, d: DataDeletionDeps): Promise<Subject[]> {
  const subjects: Subject[] = [{ user: asid }];
  if (!d.messenger) return subjects;
  for (const { page, psid } of await d.messenger.pageScopedIds(asid)) {
    if (d.messenger.serves(page)) subjects.push({ channel: 'messenger', account: page, user: psid });
  }
  return subjects;
}

/** Mounted at `/facebook/data-deletion`. */
export function dataDeletionRouter(d: DataDeletionDeps): express.Router {
  const r = express.Router();
  r.post('/', express.urlencoded({ extended: false, limit: '16kb' }), (req, res) => {
    const parsed = parseSignedRequest((req.body as Record<string, unknown> | undefined)?.signed_request, d.appSecret);
    if (!parsed.ok) {
      d.logger.warn({ reason: parsed.reason }, 'data-deletion callback refused');
      return void res.status(parsed.reason === 'signature does not match' ? 403 : 400).json({ error: `invalid signed_request: ${parsed.reason}` });
    }
    if (!d.forgetter) return void res.status(503).json({ error: 'data deletion needs the chatlog database on this process (set DATABASE_URL)' });
    const forgetter = d.forgetter;
    subjectsOf(parsed.userId, d).then(
      (subjects) =>
        forgetter.forget(subjects, 'facebook').then(
          ({ code }) => {
            const base = d.publicUrl ?? `${req.protocol}://${req.get('host')}`;
            res.json({ url: `${base}/facebook/data-deletion/status?code=${encodeURIComponent(code)}`, confirmation_code: code });
          },
          (err) => {
            d.logger.error({ err }, 'data deletion failed: Facebook will be answered 503 and may send the request again');
            res.status(503).json({ error: err instanceof ForgetUnavailableError ? err.message : 'deletion could not be completed now, retry later' });
          },
        ),
      (err) => {
        // The message only: the error's context names the user.
        d.logger.error(
          { reason: err instanceof Error ? err.message : String(err) },
          'data deletion: the Graph API could not resolve the app-scoped id to page-scoped ids; nothing erased, Facebook will be answered 503 and may send the request again',
        );
        res.status(503).json({ error: "the user's page-scoped ids could not be looked up now, retry later" });
      },
    );
  });
  r.get('/status', async (req, res) => {
    res.set({ 'content-security-policy': "default-src 'none'", 'x-content-type-options': 'nosniff', 'cache-control': 'no-store', 'referrer-policy': 'no-referrer' });
    const code = typeof req.query.code === 'string' ? req.query.code : '';
    const request = d.db && /^[A-Za-z0-9_-]{8,64}$/.test(code) ? await deletionRequest(d.db, code).catch(() => null) : null;
    if (!request)
      return void res
        .status(404)
        .type('html')
        .send(statusPage('Deletion request not found', ['No data deletion request has this confirmation code.']));
    const lines = [`Confirmation code: ${request.code}`, `Received: ${request.requestedAt.toISOString()}`];
    if (request.completedAt && request.result) {
      lines.push(`Completed: ${request.completedAt.toISOString()}`, `Your data was deleted: ${request.result.conversations} conversation(s) and ${request.result.messages} message(s).`);
    } else lines.push('Status: in progress. Your data will be deleted; this page will say when.');
    res.type('html').send(statusPage('Your data deletion request', lines));
  });
  return r;
}
