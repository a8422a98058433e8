/**
 * Writes `vggc compile --dump-passes DIR`: the numbered graph files of compiler/compile.ts
 * `passDumps`, each atomically (runtime/fsutil.ts), and a marker `.vggc-passes` listing them.
 *
 * DIR may be new, empty, or a dump vggc wrote before (it holds the marker): then the files of
 * the old dump go and the new ones take their place; nothing else in DIR is touched. Any other
 * existing directory, or a file at DIR, is refused before anything is written.
 */
import { mkdir, readFile, readdir, unlink } from 'node:fs/promises';
import { join } from 'node:path';
import type { PassDump } from '../compiler/compile.js';
import { fail } from '../dsl/diagnostics.js';
import { rethrowFsError, writeFileAtomic } from './fsutil.js';

export const DUMP_MARKER = '.vggc-passes';

export async function writePassDumps(dir: string, dumps: readonly PassDump[]): Promise<void> {
  const entries = await readdir(dir).catch((e: NodeJS.ErrnoException) => {
    if (e.code === 'ENOENT') return undefined;
    if (e.code === 'ENOTDIR') fail(`--dump-passes ${dir}: it is a file, not a directory`);
    return rethrowFsError(dir, 'read', e);
  });
  let old: string[] = [];
  if (entries && entries.length > 0) {
    if (!entries.includes(DUMP_MARKER)) {
      fail(
        `--dump-passes ${dir}: the directory exists and holds files vggc did not write; ` +
          'give a new or empty directory',
      );
    }
    const listed: unknown = JSON.parse(await readFile(join(dir, DUMP_MARKER), 'utf8'));
    old = Array.isArray(listed) ? listed.filter((f): f is string => typeof f === 'string') : [];
  }
  try {
    await mkdir(dir, { recursive: true });
  } catch (e) {
    rethrowFsError(dir, 'write', e);
  }
  const files = dumps.map((d) => d.file);
  // The marker first, listing old and new files: an interrupted run leaves nothing unlisted.
  await writeMarker(dir, [...new Set([...old, ...files])]);
  for (const f of old.filter((f) => !files.includes(f) && safeName(f))) {
    await unlink(join(dir, f)).catch(() => undefined);
  }
  for (const d of dumps) {
    if (!safeName(d.file)) throw new Error(`internal: pass dump name '${d.file}'`);
    await writeFileAtomic(join(dir, d.file), Buffer.from(d.text, 'utf8'));
  }
  await writeMarker(dir, files);
}

/** Only `NN-name.txt` names vggc makes, never a path elsewhere. */
const safeName = (f: string) => /^\d+-[a-z0-9-]+\.txt$/.test(f);

async function writeMarker(dir: string, files: readonly string[]): Promise<void> {
  await writeFileAtomic(join(dir, DUMP_MARKER), Buffer.from(JSON.stringify(files) + '\n'));
}
