/** Small helpers shared by the compiler tests. */
import { VggcError, type Diagnostic } from '../dsl/diagnostics.js';

/** Runs `fn`, expects a VggcError, returns its diagnostics. */
export function diagnosticsOf(fn: () => unknown): readonly Diagnostic[] {
  try {
    fn();
  } catch (e) {
    if (e instanceof VggcError) return e.diagnostics;
    throw e;
  }
  throw new Error('expected a VggcError, but nothing was thrown');
}

/** `line:col: message` of each diagnostic, for compact assertions. */
export function where(diags: readonly Diagnostic[]): string[] {
  return diags.map((d) => (d.span ? `${d.span.line}:${d.span.col}: ${d.message}` : d.message));
}
