/** Reading the user's model file, with failures as one-line diagnostics. */
import { type SourceFile } from '../dsl/diagnostics.js';
import { decodeSource } from '../dsl/source.js';
import { readRegularFileSync } from '../runtime/fsutil.js';

/** The model file `path` as text: a regular file (never a FIFO or device), UTF-8 (dsl/source.ts). */
export function readSource(path: string): SourceFile {
  return decodeSource(path, readRegularFileSync(path));
}
