/** Reading the user's files, with failures as one-line diagnostics. */
import { readFileSync } from 'node:fs';
import { VggcError, error, type SourceFile } from '../dsl/diagnostics.js';

export function readSource(path: string): SourceFile {
  try {
    return { name: path, text: readFileSync(path, 'utf8') };
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    const why =
      code === 'ENOENT'
        ? 'no such file'
        : code === 'EISDIR'
          ? 'is a directory'
          : code === 'EACCES'
            ? 'permission denied'
            : (e as Error).message;
    throw new VggcError(error(`cannot read '${path}': ${why}`));
  }
}
