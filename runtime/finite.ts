/**
 * NaN and Inf in what a user loads (weights, input arrays, training images): counted on load and
 * reported once per file as a warning, so that a corrupt file does not pass without a word (a
 * single NaN weight makes every output NaN). Warnings go to the handler set with `onWarning`;
 * by default they are written to stderr as `vggc: warning: ...` (the CLI's diagnostic format).
 */

export type WarningHandler = (message: string) => void;

const toStderr: WarningHandler = (m) => process.stderr.write(`vggc: warning: ${m}\n`);
let handler: WarningHandler = toStderr;

/** Routes warnings to `h` (a library user's logger, a test's list); no argument restores stderr. */
export function onWarning(h?: WarningHandler): void {
  handler = h ?? toStderr;
}

export function warn(message: string): void {
  handler(message);
}

/** The NaN and infinite values of `data`. */
export function countNonFinite(data: Float32Array): { nan: number; inf: number } {
  let nan = 0;
  let inf = 0;
  for (let i = 0; i < data.length; i++) {
    const v = data[i]!;
    if (v - v !== 0) {
      if (v !== v) nan++;
      else inf++;
    }
  }
  return { nan, inf };
}

/**
 * Warns once about the NaN and Inf values of the arrays loaded from `file` (`what`: `weights`,
 * `values`, `image values`), naming up to three of the arrays that hold them. Returns the count.
 */
export function warnNonFinite(
  file: string,
  arrays: Iterable<readonly [name: string, data: Float32Array]>,
  what = 'values',
): number {
  let nan = 0;
  let inf = 0;
  let total = 0;
  const where: string[] = [];
  for (const [name, data] of arrays) {
    const c = countNonFinite(data);
    total += data.length;
    if (c.nan + c.inf > 0) {
      nan += c.nan;
      inf += c.inf;
      if (name) where.push(name);
    }
  }
  const bad = nan + inf;
  if (bad > 0) {
    const kinds = [nan ? `${nan} NaN` : '', inf ? `${inf} infinite` : ''].filter(Boolean);
    const named = where.length
      ? ` (in ${where.slice(0, 3).join(', ')}${where.length > 3 ? `, and ${where.length - 3} more` : ''})`
      : '';
    warn(
      `${file}: ${kinds.join(' and ')} of ${total.toLocaleString('en-US')} ${what}${named}; ` +
        'results computed from them will be NaN or Inf',
    );
  }
  return bad;
}
