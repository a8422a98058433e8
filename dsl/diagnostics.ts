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

/**
 * Formats one diagnostic. With a span and its source:
 *
 *     model.vgg:4:9: error: unknown layer 'conv5-64'
 *       conv5-64 x2
 *       ^~~~~~~~
 */
export function formatDiagnostic(d: Diagnostic, source?: SourceFile): string {
  if (!d.span) return `vggc: ${d.severity}: ${d.message}`;
  const { file, line, col, length } = d.span;
  const head = `${file}:${line}:${col}: ${d.severity}: ${d.message}`;
  if (!source || source.name !== file) return head;
  const text = source.text.split(/\r\n|\r|\n/)[line - 1];
  if (text === undefined) return head;
  const width = Math.max(1, Math.min(length, text.length - col + 1));
  const pad = text.slice(0, col - 1).replace(/[^\t]/g, ' ');
  return `${head}\n  ${text}\n  ${pad}^${'~'.repeat(width - 1)}`;
}

export function formatDiagnostics(diags: readonly Diagnostic[], source?: SourceFile): string {
  return diags.map((d) => formatDiagnostic(d, source)).join('\n');
}
