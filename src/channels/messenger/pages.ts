/** Which pages we serve and with which Send API token (promise 7: each page is a tenant). */
import type { Config } from '../../config';

export interface PageDirectory {
  /** False when PAGES_FILE is set and does not list the page. */
  serves(pageId: string): boolean;
  token(pageId: string): string | undefined;
  /** The pages of PAGES_FILE (with their names), or undefined when any page is served. */
  list(): { id: string; name?: string }[] | undefined;
}

export function pageDirectory(fb: Config['fb']): PageDirectory {
  return {
    serves: (pageId) => !fb.pages || fb.pages.has(pageId),
    token: (pageId) => fb.pages?.get(pageId)?.accessToken ?? (fb.pages ? undefined : fb.defaultPageToken),
    list: () => (fb.pages ? [...fb.pages.values()].map((p) => ({ id: p.id, ...(p.name ? { name: p.name } : {}) })) : undefined),
  };
}
