/** A small horizontal grouped bar chart as SVG text: fused vs unfused time per case (vggc bench, npm run bench). */

export interface BarRow {
  readonly label: string;
  readonly fused: number;
  readonly unfused: number;
}

const esc = (s: string) => s.replace(/&/g, '&amp;').replace(/</g, '&lt;');

export interface ChartOptions {
  /** Width of the label column in pixels (default 190). */
  readonly labelWidth?: number;
  /** A second title line (smaller), e.g. the machine and its load. */
  readonly subtitle?: string;
  /** The names of the two bars (default fused, unfused; e.g. `--conv direct`, `--conv auto`). */
  readonly legend?: readonly [string, string];
}

export function barChart(
  title: string,
  unit: string,
  rows: readonly BarRow[],
  options: ChartOptions = {},
): string {
  const labelW = options.labelWidth ?? 190;
  const legend = options.legend ?? ['fused', 'unfused'];
  const second = Math.max(70, 7 * legend[0].length + 24);
  const plotW = 520;
  const rowH = 34;
  const top = options.subtitle ? 56 : 40;
  const legendY = top - 14;
  const height = top + rows.length * rowH + 40;
  const max = Math.max(...rows.flatMap((r) => [r.fused, r.unfused]), 1e-9);
  const x = (v: number) => (v / max) * plotW;
  const parts: string[] = [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${labelW + plotW + 90}" height="${height}" font-family="sans-serif" font-size="12">`,
    `<rect width="100%" height="100%" fill="white"/>`,
    `<text x="10" y="20" font-size="14" font-weight="bold">${esc(title)}</text>`,
    ...(options.subtitle
      ? [`<text x="10" y="36" font-size="11" fill="#555">${esc(options.subtitle)}</text>`]
      : []),
    `<rect x="${labelW}" y="${legendY}" width="10" height="10" fill="#2b7bba"/><text x="${labelW + 14}" y="${legendY + 9}">${esc(legend[0])}</text>`,
    `<rect x="${labelW + second}" y="${legendY}" width="10" height="10" fill="#f39c12"/><text x="${labelW + second + 14}" y="${legendY + 9}">${esc(legend[1])}</text>`,
  ];
  rows.forEach((r, i) => {
    const y = top + i * rowH;
    parts.push(`<text x="${labelW - 6}" y="${y + 19}" text-anchor="end">${esc(r.label)}</text>`);
    parts.push(
      `<rect x="${labelW}" y="${y + 4}" width="${x(r.fused).toFixed(1)}" height="12" fill="#2b7bba"/>`,
    );
    parts.push(
      `<text x="${(labelW + x(r.fused) + 4).toFixed(1)}" y="${y + 14}">${r.fused.toFixed(2)} ${unit}</text>`,
    );
    parts.push(
      `<rect x="${labelW}" y="${y + 17}" width="${x(r.unfused).toFixed(1)}" height="12" fill="#f39c12"/>`,
    );
    parts.push(
      `<text x="${(labelW + x(r.unfused) + 4).toFixed(1)}" y="${y + 27}">${r.unfused.toFixed(2)} ${unit}</text>`,
    );
  });
  parts.push('</svg>');
  return parts.join('\n') + '\n';
}
