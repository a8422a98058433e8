/** A small line chart as SVG text: panels side by side, each with a few series. */

export interface Series {
  readonly name: string;
  readonly points: readonly (readonly [number, number])[];
}

export interface Panel {
  readonly title: string;
  readonly x: string;
  readonly series: readonly Series[];
}

const COLORS = ['#2b7bba', '#f39c12', '#27ae60', '#c0392b'];
const esc = (s: string) => s.replace(/&/g, '&amp;').replace(/</g, '&lt;');
const W = 420;
const H = 260;
const M = { left: 56, right: 16, top: 40, bottom: 40 };

export function lineChart(title: string, panels: readonly Panel[]): string {
  const parts = [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${panels.length * W}" height="${H + 24}" font-family="sans-serif" font-size="11">`,
    `<rect width="100%" height="100%" fill="white"/>`,
    `<text x="10" y="16" font-size="13" font-weight="bold">${esc(title)}</text>`,
  ];
  panels.forEach((p, i) => parts.push(panel(p, i * W, 24)));
  parts.push('</svg>');
  return parts.join('\n') + '\n';
}

function panel(p: Panel, ox: number, oy: number): string {
  const pts = p.series.flatMap((s) => s.points).filter(([x, y]) => Number.isFinite(x + y));
  const [x0, x1] = extent(pts.map((q) => q[0]));
  const [y0, y1] = extent(pts.map((q) => q[1]));
  const pw = W - M.left - M.right;
  const ph = H - M.top - M.bottom;
  const sx = (x: number) => ox + M.left + ((x - x0) / (x1 - x0)) * pw;
  const sy = (y: number) => oy + M.top + ph - ((y - y0) / (y1 - y0)) * ph;
  const out = [
    `<text x="${ox + M.left}" y="${oy + 20}" font-weight="bold">${esc(p.title)}</text>`,
    `<rect x="${ox + M.left}" y="${oy + M.top}" width="${pw}" height="${ph}" fill="none" stroke="#999"/>`,
    `<text x="${ox + M.left + pw / 2}" y="${oy + H - 8}" text-anchor="middle">${esc(p.x)}</text>`,
  ];
  for (const t of [0, 0.5, 1]) {
    const y = y0 + t * (y1 - y0);
    const x = x0 + t * (x1 - x0);
    out.push(`<text x="${ox + M.left - 4}" y="${sy(y) + 4}" text-anchor="end">${fmt(y)}</text>`);
    out.push(
      `<text x="${sx(x)}" y="${oy + M.top + ph + 14}" text-anchor="middle">${fmt(x)}</text>`,
    );
  }
  p.series.forEach((s, i) => {
    const color = COLORS[i % COLORS.length]!;
    const path = s.points
      .filter(([x, y]) => Number.isFinite(x + y))
      .map(([x, y], k) => `${k ? 'L' : 'M'}${sx(x).toFixed(1)},${sy(y).toFixed(1)}`)
      .join('');
    if (path) out.push(`<path d="${path}" fill="none" stroke="${color}" stroke-width="1.5"/>`);
    if (s.points.length === 1) {
      const [x, y] = s.points[0]!;
      out.push(`<circle cx="${sx(x)}" cy="${sy(y)}" r="3" fill="${color}"/>`);
    }
    const lx = ox + M.left + pw - 80;
    const ly = oy + M.top + 14 + 14 * i;
    out.push(`<rect x="${lx}" y="${ly - 8}" width="10" height="3" fill="${color}"/>`);
    out.push(`<text x="${lx + 14}" y="${ly - 4}">${esc(s.name)}</text>`);
  });
  return out.join('\n');
}

function extent(v: readonly number[]): [number, number] {
  if (!v.length) return [0, 1];
  const lo = v.reduce((a, b) => Math.min(a, b), Infinity);
  const hi = v.reduce((a, b) => Math.max(a, b), -Infinity);
  return lo === hi ? [lo - 0.5, hi + 0.5] : [lo, hi];
}

const fmt = (v: number) =>
  Math.abs(v) >= 100 ? v.toFixed(0) : Math.abs(v) >= 1 ? v.toFixed(2) : v.toPrecision(2);
