/**
 * The widget's files under /webchat: the loader a site embeds (widget.js, any page may load
 * it), the frame it opens (frame?account=<site>, only inside the site's own origins: its CSP
 * `frame-ancestors` lists them, and the frame's own CSP lets nothing but our scripts run), and
 * in dev mode a demo page that embeds the dev site's widget.
 */
import path from 'node:path';
import express from 'express';
import type { WebchatSite } from './sites';

export const WIDGET_DIR = path.join(__dirname, 'widget');

/** The frame's policy: our scripts and styles only, images from anywhere on https (what bots send), sockets to us. */
export function frameCsp(site: WebchatSite): string {
  return ["default-src 'none'", "script-src 'self'", "style-src 'self'", 'img-src https: data:', "connect-src 'self'", "base-uri 'none'", "form-action 'none'", `frame-ancestors ${site.origins.map((o) => o.raw).join(' ')}`].join('; ');
}

const STRICT = "default-src 'none'; script-src 'self'; style-src 'self'; frame-src 'self'; base-uri 'none'; form-action 'none'";

export function webchatRouter(sites: ReadonlyMap<string, WebchatSite>, opts: { demo: boolean }): express.Router {
  const r = express.Router();
  const file = (name: string, maxAge: number) => (_req: express.Request, res: express.Response) => {
    res.set({ 'x-content-type-options': 'nosniff', 'cache-control': `public, max-age=${maxAge}` });
    res.sendFile(path.join(WIDGET_DIR, name));
  };
  // Loaded cross-origin by a plain <script> tag: no CORS needed. Short caching: a fix reaches sites within minutes.
  r.get('/widget.js', file('widget.js', 300));
  r.get('/client.js', file('client.js', 300));
  r.get('/frame.js', file('frame.js', 300));
  r.get('/frame.css', file('frame.css', 300));
  r.get('/frame', (req, res) => {
    const site = sites.get(String(req.query.account ?? ''));
    if (!site)
      return void res
        .status(404)
        .set('content-security-policy', "default-src 'none'")
        .json({ error: `no web chat site ${String(req.query.account ?? '')}` });
    res.set({ 'content-security-policy': frameCsp(site), 'x-content-type-options': 'nosniff', 'referrer-policy': 'no-referrer', 'cache-control': 'no-cache' });
    res.sendFile(path.join(WIDGET_DIR, 'frame.html'));
  });
  if (opts.demo) {
    // Dev mode: a page of this server that embeds the dev site's widget, under a CSP without inline script.
    r.get('/demo', (_req, res) => {
      res.set({ 'content-security-policy': STRICT, 'cache-control': 'no-cache' });
      res.sendFile(path.join(WIDGET_DIR, 'demo.html'));
    });
  }
  return r;
}
