/**
 * Sections of bench/results/latest.md that one part of the suite rewrites alone (`--only train`,
 * `--only first-run`): each between a begin and an end marker, replaced in place.
 */
export interface Markers {
  readonly begin: string;
  readonly end: string;
}

/** The section of `md` between `m`'s markers, markers included, if it has one. */
export function sectionOf(md: string, m: Markers): string | undefined {
  const b = md.indexOf(m.begin);
  const e = md.indexOf(m.end);
  return b >= 0 && e > b ? md.slice(b, e + m.end.length) + '\n' : undefined;
}

/** Replaces the section of `md` between `m`'s markers with `section` (or appends it). */
export function mergeSection(md: string, section: string, m: Markers): string {
  const b = md.indexOf(m.begin);
  const e = md.indexOf(m.end);
  if (b >= 0 && e > b) {
    const after = md.slice(e + m.end.length).replace(/^\n+/, '');
    return md.slice(0, b) + section + (after ? '\n' + after : '');
  }
  return md.replace(/\n*$/, '\n\n') + section;
}
