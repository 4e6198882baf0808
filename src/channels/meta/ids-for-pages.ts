/**
 * Meta's ID Matching API: the page-scoped ids (PSIDs) that one app-scoped user id (ASID, what
 * the data-deletion callback is sent) has on the pages of the business.
 * `GET /{asid}/ids_for_pages?access_token={app-id}|{app-secret}&appsecret_proof=…` answers
 * `{"data":[{"id":"<psid>","page":{"id","name"}}],"paging":{"cursors":{"after"},"next"}}`.
 * https://developers.facebook.com/docs/facebook-login/guides/advanced/id-matching
 * Instagram-scoped ids are not covered: the API knows pages only.
 */
import crypto from 'node:crypto';
import { SendError } from '../channel';
import type { GraphClient } from './graph';

export interface PageScopedId {
  page: string;
  psid: string;
}

interface IdsPage {
  data?: { id?: unknown; page?: { id?: unknown } }[];
  paging?: { cursors?: { after?: unknown }; next?: unknown };
}

/** At most this many pages of answers are read (a runaway cursor must not loop for ever). */
const MAX_PAGES = 100;

/** An app access token and its appsecret_proof (hex HMAC-SHA256 of the token, keyed with the app secret). */
export function appToken(appId: string, appSecret: string): { token: string; proof: string } {
  const token = `${appId}|${appSecret}`;
  return { token, proof: crypto.createHmac('sha256', appSecret).update(token).digest('hex') };
}

/** Graph's answer for an id it does not know (code 100, subcode 33: object does not exist). */
const unknownId = (err: unknown) => err instanceof SendError && err.code === '100' && err.context.detail?.subcode === 33;

/**
 * Every PSID of the user on every page of the business, following the `after` cursor against
 * our own GRAPH_API_URL (never a `next` URL as given). An id Graph does not know has none;
 * any other failure (network, 5xx, rate limit, a refused token) is thrown.
 */
export async function idsForPages(graph: GraphClient, app: { id: string; secret: string }, asid: string): Promise<PageScopedId[]> {
  const { token, proof } = appToken(app.id, app.secret);
  const target = { channel: 'messenger', account: `app:${app.id}`, user: asid };
  const out: PageScopedId[] = [];
  let after: string | undefined;
  for (let n = 0; n < MAX_PAGES; n++) {
    let body: IdsPage;
    try {
      body = (await graph.get(`/${encodeURIComponent(asid)}/ids_for_pages`, token, { appsecret_proof: proof, ...(after ? { after } : {}) }, target)) as IdsPage;
    } catch (err) {
      if (unknownId(err)) return out;
      throw err;
    }
    for (const e of body.data ?? []) {
      if (typeof e.id === 'string' && typeof e.page?.id === 'string') out.push({ page: e.page.id, psid: e.id });
    }
    const next = body.paging?.cursors?.after;
    if (!body.paging?.next || typeof next !== 'string' || next === after) return out;
    after = next;
  }
  throw new Error(`ids_for_pages: more than ${MAX_PAGES} pages of answers for one user`);
}
