/**
 * Static files of the admin app and the emulator, with a strict Content-Security-Policy:
 * scripts and styles only from this origin (no inline script can run, so a message text
 * that smuggled markup in would still run nothing), no framing, no plugins.
 */
import path from 'node:path';
import express from 'express';

export const UI_DIR = path.join(__dirname, 'ui');

export const CSP = ["default-src 'none'", "script-src 'self'", "style-src 'self'", "img-src 'self' https: data:", "connect-src 'self'", "base-uri 'none'", "form-action 'self'", "frame-ancestors 'none'"].join('; ');

export function secureHeaders(_req: express.Request, res: express.Response, next: express.NextFunction): void {
  res.set({ 'content-security-policy': CSP, 'x-content-type-options': 'nosniff', 'referrer-policy': 'no-referrer', 'x-frame-options': 'DENY', 'cache-control': 'no-cache' });
  next();
}

function page(file: string): express.Router {
  const r = express.Router();
  r.use(secureHeaders);
  r.get('/', (_req, res) => res.sendFile(path.join(UI_DIR, file)));
  r.use(express.static(UI_DIR, { index: false, dotfiles: 'deny', fallthrough: true }));
  return r;
}

/** `/admin`: the conversation viewer and agent console. */
export const adminUi = () => page('index.html');
/** `/emulator`: a chat page playing users of every channel served by a built-in fake (dev mode and tests). */
export const emulatorUi = () => page('emulator.html');
