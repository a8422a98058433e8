/**
 * Source positions and the one error type of vggc.
 *
 * Every user-facing failure is a `Diagnostic`; many of them travel together in a `VggcError`.
 * `formatDiagnostic` prints them as a compiler does: `file.vgg:4:9: error: message`, the source
 * line, and a caret under the offending text.
 */

/** A range of source text. `line` and `col` are 1-based; `offset` is 0-based, in UTF-16 units. */
export interface Span {
  readonly file: string;
  readonly line: number;
  readonly col: number;
  readonly offset: number;
  readonly length: number;
}

export interface SourceFile {
  readonly name: string;
  readonly text: string;
}

export type Severity = 'error' | 'warning' | 'note';

export interface Diagnostic {
  readonly severity: Severity;
  readonly message: string;
  /** Absent for failures that have no place in a source file (a bad weight file, a missing GPU). */
  readonly span?: Span;
}

/** The single error type thrown across vggc. Holds one or more diagnostics. */
export class VggcError extends Error {
  readonly diagnostics: readonly Diagnostic[];

  constructor(diagnostics: Diagnostic | readonly Diagnostic[]) {
    const list = Array.isArray(diagnostics) ? diagnostics : [diagnostics as Diagnostic];
    super(list.map((d) => d.message).join('; '));
    this.name = 'VggcError';
    this.diagnostics = list;
  }
}

export function error(message: string, span?: Span): Diagnostic {
  return span ? { severity: 'error', message, span } : { severity: 'error', message };
}

/** Throws a VggcError holding one error diagnostic. */
export function fail(message: string, span?: Span): never {
  throw new VggcError(error(message, span));
}

export function hasErrors(diags: readonly Diagnostic[]): boolean {
  return diags.some((d) => d.severity === 'error');
}

/** A span covering `from` up to the end of `to`, both in the same file. */
export function joinSpans(from: Span, to: Span): Span {
  return { ...from, length: Math.max(from.length, to.offset + to.length - from.offset) };
}

/** The offsets at which the lines of `text` start; `\r\n`, `\r` and `\n` each end a line. */
export function lineStarts(text: string): number[] {
  const starts = [0];
  for (let i = 0; i < text.length; i++) {
    const ch = text.charCodeAt(i);
    if (ch === 10) starts.push(i + 1);
    else if (ch === 13) {
      if (text.charCodeAt(i + 1) === 10) i++;
      starts.push(i + 1);
    }
  }
  return starts;
}

/** Line `line` (1-based) of `text` without its line break, or undefined past the end. */
function lineOf(text: string, starts: readonly number[], line: number): string | undefined {
  const start = starts[line - 1];
  if (start === undefined) return undefined;
  const next = starts[line];
  let end = next ?? text.length;
  if (next !== undefined) {
    end--; // the line break; `\r\n` is two units
    if (end > start && text.charCodeAt(end) === 10 && text.charCodeAt(end - 1) === 13) end--;
  }
  return text.slice(start, end);
}

/** The longest source line quoted under a diagnostic; longer ones are cut around the column. */
const MAX_QUOTED = 200;

/**
 * Formats one diagnostic. With a span and its source:
 *
 *     model.vgg:4:9: error: unknown layer 'conv5-64'
 *       conv5-64 x2
 *       ^~~~~~~~
 *
 * `starts` (from `lineStarts(source.text)`) saves re-scanning the source for each diagnostic.
 */
export function formatDiagnostic(
  d: Diagnostic,
  source?: SourceFile,
  starts?: readonly number[],
): string {
  if (!d.span) return `vggc: ${d.severity}: ${d.message}`;
  const { file, line, col, length } = d.span;
  const head = `${file}:${line}:${col}: ${d.severity}: ${d.message}`;
  if (!source || source.name !== file) return head;
  let text = lineOf(source.text, starts ?? lineStarts(source.text), line);
  if (text === undefined) return head;
  let at = col;
  if (text.length > MAX_QUOTED) {
    // A minified or binary-looking line: quote a window around the column.
    const from = Math.max(0, Math.min(col - 1 - MAX_QUOTED / 2, text.length - MAX_QUOTED));
    text = text.slice(from, from + MAX_QUOTED);
    at = col - from;
  }
  const width = Math.max(1, Math.min(length, text.length - at + 1));
  const pad = text.slice(0, at - 1).replace(/[^\t]/g, ' ');
  return `${head}\n  ${text}\n  ${pad}^${'~'.repeat(width - 1)}`;
}

/** How many diagnostics a report shows before it says how many more there are. */
export const MAX_REPORTED = 20;

/**
 * Formats a report as compilers do: the first `max` diagnostics (default MAX_REPORTED), then
 * `vggc: note: N more errors not shown`. Linear in the size of the source: its line index is
 * built once.
 */
export function formatDiagnostics(
  diags: readonly Diagnostic[],
  source?: SourceFile,
  max: number = MAX_REPORTED,
): string {
  const shown = diags.slice(0, Math.max(0, max));
  const starts = source ? lineStarts(source.text) : undefined;
  const lines = shown.map((d) => formatDiagnostic(d, source, starts));
  const rest = diags.length - shown.length;
  if (rest > 0) {
    const errors = diags.slice(shown.length).filter((d) => d.severity === 'error').length;
    const what = errors === rest ? 'error' : 'diagnostic';
    lines.push(`vggc: note: and ${rest} more ${what}${rest === 1 ? '' : 's'} not shown`);
  }
  return lines.join('\n');
}
