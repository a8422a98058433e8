/**
 * Writes `vggc compile --dump-passes DIR`: the numbered graph files of compiler/compile.ts
 * `passDumps`, by the one output-directory writer (runtime/outputs.ts `writeOutputDir`): DIR may
 * be new, empty, or one vggc wrote before (its marker lists the files, and only those are
 * replaced or removed); any other non-empty directory, or a file at DIR, is refused.
 */
import type { PassDump } from '../compiler/compile.js';
import { checkOutputDir, OUTPUT_MARKER, writeOutputDir, type OutputDirOptions } from './outputs.js';

export const DUMP_MARKER = OUTPUT_MARKER;

const options: OutputDirOptions = { what: '--dump-passes', writer: 'vggc compile --dump-passes' };

/** Refuses DIR before any work, as `writePassDumps` would. */
export const checkPassDumpsDir = (dir: string): void => void checkOutputDir(dir, options);

export async function writePassDumps(dir: string, dumps: readonly PassDump[]): Promise<void> {
  writeOutputDir(dir, new Map(dumps.map((d) => [d.file, d.text])), options);
}
