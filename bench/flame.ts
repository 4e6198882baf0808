/**
 * A small flame-graph renderer for V8 `.cpuprofile` files (what `node --cpu-prof` writes):
 * `node --import tsx bench/flame.ts out.svg a.cpuprofile [b.cpuprofile…] [--title T]
 * [--from µs --to µs] [--top N]`. Several profiles (two workers) are merged by call path.
 * `--from`/`--to` keep only the samples taken in that window (the profile's clock is
 * `process.hrtime`, the same in every process of the machine), so start-up and idle tails do
 * not count. Prints the functions with the most self time; writes an SVG whose boxes show
 * their share of the busy samples on hover.
 */
import fs from 'node:fs';
import path from 'node:path';

interface CallFrame {
  functionName: string;
  url: string;
  lineNumber: number;
}
interface ProfileNode {
  id: number;
  callFrame: CallFrame;
  children?: number[];
}
interface CpuProfile {
  nodes: ProfileNode[];
  startTime: number;
  samples: number[];
  timeDeltas: number[];
}

interface Frame {
  name: string;
  self: number;
  total: number;
  children: Map<string, Frame>;
}

const IDLE = new Set(['(idle)', '(program)']);

function frameName(cf: CallFrame): string {
  const fn = cf.functionName || '(anonymous)';
  if (!cf.url) return fn;
  const file = cf.url.replace(/^file:\/\//, '');
  const nm = file.lastIndexOf('node_modules/');
  const short = nm >= 0 ? file.slice(nm + 13) : file.includes('/src/') ? file.slice(file.indexOf('/src/') + 1) : file.includes('/bench/') ? file.slice(file.indexOf('/bench/') + 1) : path.basename(file);
  return `${fn} ${short}:${cf.lineNumber + 1}`;
}

/** What a frame belongs to: an npm package, a node: module group, our src/<folder>, or a native. */
function owner(cf: CallFrame): string {
  const url = cf.url.replace(/^file:\/\//, '');
  const nm = url.lastIndexOf('node_modules/');
  if (nm >= 0) {
    const rest = url.slice(nm + 13).split('/');
    return rest[0]!.startsWith('@') ? `${rest[0]}/${rest[1]}` : rest[0]!;
  }
  if (url.includes('/src/'))
    return url
      .slice(url.indexOf('/src/') + 1)
      .split('/')
      .slice(0, 2)
      .join('/');
  if (url.includes('/bench/')) return 'bench';
  if (url.startsWith('node:')) return /^node:(internal\/)?(_http|http)/.test(url) ? 'node:http' : /^node:(internal\/)?(net|stream|streams)/.test(url) ? 'node:net+streams' : 'node:other';
  if (url === '') return cf.functionName.startsWith('(') ? cf.functionName : 'native';
  return 'other';
}

/** Adds the samples of one profile inside [from, to] to the merged tree; returns how many it counted. */
function addProfile(root: Frame, p: CpuProfile, from: number, to: number, owners: Map<string, number>): { busy: number; idle: number } {
  const byId = new Map(p.nodes.map((n) => [n.id, n]));
  const parent = new Map<number, number>();
  for (const n of p.nodes) for (const c of n.children ?? []) parent.set(c, n.id);
  const counts = new Map<number, number>();
  let t = p.startTime;
  let idle = 0;
  let busy = 0;
  p.samples.forEach((id, i) => {
    t += p.timeDeltas[i] ?? 0;
    if (t < from || t > to) return;
    const name = byId.get(id)?.callFrame.functionName ?? '';
    if (IDLE.has(name)) {
      idle++;
      return;
    }
    busy++;
    counts.set(id, (counts.get(id) ?? 0) + 1);
  });
  for (const [id, n] of counts) {
    const stack: string[] = [];
    const seen = new Set<string>();
    for (let cur: number | undefined = id; cur !== undefined; cur = parent.get(cur)) {
      const node = byId.get(cur)!;
      if (node.callFrame.functionName === '(root)') break;
      stack.push(frameName(node.callFrame));
      seen.add(owner(node.callFrame));
    }
    for (const o of seen) owners.set(o, (owners.get(o) ?? 0) + n);
    let f = root;
    f.total += n;
    for (let i = stack.length - 1; i >= 0; i--) {
      let c = f.children.get(stack[i]!);
      if (!c) f.children.set(stack[i]!, (c = { name: stack[i]!, self: 0, total: 0, children: new Map() }));
      c.total += n;
      f = c;
    }
    f.self += n;
  }
  return { busy, idle };
}

function selfTimes(root: Frame): Map<string, number> {
  const out = new Map<string, number>();
  const walk = (f: Frame) => {
    if (f.self) out.set(f.name, (out.get(f.name) ?? 0) + f.self);
    for (const c of f.children.values()) walk(c);
  };
  walk(root);
  return out;
}

const esc = (s: string) => s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');

function colour(name: string): string {
  let h = 0;
  for (let i = 0; i < name.length; i++) h = (h * 31 + name.charCodeAt(i)) >>> 0;
  const own = name.includes(' src/') || name.includes(' bench/');
  const native = !name.includes(' ') || name.startsWith('(');
  // Our code warm orange, dependencies red-yellow, node internals and natives grey-blue.
  if (own) return `hsl(${25 + (h % 20)},90%,${55 + (h % 10)}%)`;
  if (native || name.includes(' node:')) return `hsl(${200 + (h % 30)},35%,${65 + (h % 10)}%)`;
  return `hsl(${h % 50},80%,${55 + (h % 15)}%)`;
}

function svg(root: Frame, title: string, subtitle: string): string {
  const W = 1600;
  const ROW = 17;
  let depth = 0;
  const measure = (f: Frame, d: number) => {
    depth = Math.max(depth, d);
    for (const c of f.children.values()) measure(c, d + 1);
  };
  measure(root, 0);
  const H = (depth + 1) * ROW + 60;
  const rects: string[] = [];
  const draw = (f: Frame, x: number, d: number) => {
    const w = (f.total / root.total) * (W - 20);
    if (w < 0.3) return;
    const y = H - 20 - (d + 1) * ROW;
    const pct = ((100 * f.total) / root.total).toFixed(2);
    const label = w > 40 ? esc(f.name.slice(0, Math.floor(w / 6.5))) : '';
    rects.push(
      `<g><title>${esc(f.name)} — ${pct}% (self ${((100 * f.self) / root.total).toFixed(2)}%)</title><rect x="${(10 + x).toFixed(1)}" y="${y}" width="${w.toFixed(1)}" height="${ROW - 1}" fill="${d === 0 ? '#ccc' : colour(f.name)}" rx="1"/>${label ? `<text x="${(13 + x).toFixed(1)}" y="${y + 12}">${label}</text>` : ''}</g>`,
    );
    let cx = x;
    for (const c of [...f.children.values()].sort((a, b) => a.name.localeCompare(b.name))) {
      draw(c, cx, d + 1);
      cx += (c.total / root.total) * (W - 20);
    }
  };
  draw(root, 0, 0);
  return `<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" font-family="monospace" font-size="11">
<rect width="100%" height="100%" fill="#fff"/>
<text x="10" y="18" font-size="14" font-weight="bold">${esc(title)}</text>
<text x="10" y="34" fill="#555">${esc(subtitle)}</text>
${rects.join('\n')}
</svg>
`;
}

export function flame(files: string[], opts: { from?: number; to?: number; title?: string; top?: number; out: string }): string {
  const root: Frame = { name: 'all busy samples', self: 0, total: 0, children: new Map() };
  let busy = 0;
  let idle = 0;
  const owners = new Map<string, number>();
  for (const f of files) {
    const r = addProfile(root, JSON.parse(fs.readFileSync(f, 'utf8')) as CpuProfile, opts.from ?? -Infinity, opts.to ?? Infinity, owners);
    busy += r.busy;
    idle += r.idle;
  }
  const top = [...selfTimes(root)].sort((a, b) => b[1] - a[1]).slice(0, opts.top ?? 25);
  const subtitle = `${files.length} profile(s), ${busy} busy samples (${((100 * busy) / Math.max(1, busy + idle)).toFixed(0)}% of the window busy); hover a box for its share`;
  fs.writeFileSync(opts.out, svg(root, opts.title ?? path.basename(opts.out), subtitle));
  const pct = (n: number) => `${((100 * n) / Math.max(1, busy)).toFixed(1).padStart(5)}%`;
  const inclusive = [...owners]
    .filter(([o]) => o !== 'node:other' && o !== 'native')
    .sort((a, b) => b[1] - a[1])
    .slice(0, 16)
    .map(([o, n]) => `${o} ${pct(n).trim()}`);
  return [`${opts.title ?? opts.out}: ${subtitle}`, `inclusive (a sample counts for every owner on its stack): ${inclusive.join(', ')}`, 'self time:', ...top.map(([name, n]) => `${pct(n)}  ${name}`)].join('\n');
}

if (require.main === module) {
  const args = process.argv.slice(2);
  const opt = (name: string) => {
    const i = args.indexOf(name);
    if (i < 0) return undefined;
    const v = args[i + 1];
    args.splice(i, 2);
    return v;
  };
  const title = opt('--title');
  const from = opt('--from');
  const to = opt('--to');
  const top = opt('--top');
  const [out, ...files] = args;
  if (!out || files.length === 0) {
    process.stderr.write('usage: flame.ts out.svg a.cpuprofile [b.cpuprofile…] [--title T] [--from µs] [--to µs] [--top N]\n');
    process.exit(2);
  }
  process.stdout.write(`${flame(files, { out, ...(title ? { title } : {}), ...(from ? { from: Number(from) } : {}), ...(to ? { to: Number(to) } : {}), ...(top ? { top: Number(top) } : {}) })}\n`);
}
