/** The environment variables the config module reads (src/config.ts and its src/config-*.ts parts), from its source. */
import fs from 'node:fs';
import path from 'node:path';

export function configVariables(root: string): Set<string> {
  const files = fs.readdirSync(path.join(root, 'src')).filter((f) => /^config(-[a-z]+)?\.ts$/.test(f));
  const text = files.map((f) => fs.readFileSync(path.join(root, 'src', f), 'utf8')).join('\n');
  return new Set([...text.matchAll(/(?:r\.(?:str|int|float|oneOf|bytes|file)|secret)\('([A-Z_]+)'/g)].map((m) => m[1]!));
}
