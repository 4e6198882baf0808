/**
 * An SVG chart of a bench report: end-to-end latency percentiles (log scale) and
 * throughput per scenario, so a run can be read at a glance. No dependency: plain SVG.
 */
type Report = Record<string, Record<string, number>>;

const esc = (s: string) => s.replace(/[&<>"]/g, (c) => `&#${c.charCodeAt(0)};`);

export function chartSvg(scenarios: Report, title: string): string {
  const rows = Object.entries(scenarios).filter(([, r]) => r.e2e_ms_p50 !== undefined);
  const W = 900;
  const rowH = 34;
  const left = 150;
  const mid = 560;
  const H = 90 + rows.length * rowH + 40;
  const maxMs = Math.max(1_000, ...rows.map(([, r]) => r.e2e_ms_p99 ?? 0));
  const logX = (ms: number) => left + (Math.log10(Math.max(1, ms)) / Math.log10(maxMs)) * (mid - left - 30);
  const maxRate = Math.max(1, ...rows.map(([, r]) => r.messages_per_s ?? 0));
  const rateX = (v: number) => mid + 20 + (v / maxRate) * (W - mid - 120);
  const out: string[] = [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" font-family="sans-serif" font-size="12">`,
    `<rect width="100%" height="100%" fill="white"/>`,
    `<text x="10" y="22" font-size="15" font-weight="bold">${esc(title)}</text>`,
    `<text x="${left}" y="50" font-weight="bold">end-to-end latency (log scale): p50 ● p95 ▲ p99 ■</text>`,
    `<text x="${mid + 20}" y="50" font-weight="bold">messages/s</text>`,
  ];
  for (const ms of [1, 10, 100, 1_000, 10_000, 100_000].filter((m) => m <= maxMs)) {
    out.push(`<line x1="${logX(ms)}" y1="60" x2="${logX(ms)}" y2="${H - 40}" stroke="#ddd"/>`, `<text x="${logX(ms)}" y="${H - 24}" text-anchor="middle" fill="#666">${ms >= 1000 ? `${ms / 1000} s` : `${ms} ms`}</text>`);
  }
  rows.forEach(([name, r], i) => {
    const y = 80 + i * rowH;
    out.push(`<text x="${left - 8}" y="${y + 4}" text-anchor="end">${esc(name)}</text>`);
    out.push(`<line x1="${logX(r.e2e_ms_p50!)}" y1="${y}" x2="${logX(r.e2e_ms_p99 ?? r.e2e_ms_p50!)}" y2="${y}" stroke="#4a7bd0" stroke-width="2"/>`);
    out.push(`<circle cx="${logX(r.e2e_ms_p50!)}" cy="${y}" r="5" fill="#4a7bd0"/>`);
    if (r.e2e_ms_p95 !== undefined) out.push(`<path d="M ${logX(r.e2e_ms_p95)} ${y - 6} l 6 11 l -12 0 z" fill="#e08a1e"/>`);
    if (r.e2e_ms_p99 !== undefined) out.push(`<rect x="${logX(r.e2e_ms_p99) - 5}" y="${y - 5}" width="10" height="10" fill="#c0392b"/>`);
    const rate = r.messages_per_s ?? 0;
    out.push(`<rect x="${mid + 20}" y="${y - 8}" width="${rateX(rate) - mid - 20}" height="16" fill="#7fb77e"/>`);
    const bad = (r.order_violations ?? 0) + (r.duplicates ?? 0) + (r.lost ?? 0);
    out.push(`<text x="${rateX(rate) + 6}" y="${y + 4}">${rate}${bad ? ` ⚠ ${bad} violations` : ''}</text>`);
  });
  out.push('</svg>');
  return out.join('\n');
}
