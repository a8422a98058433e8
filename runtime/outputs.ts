/**
 * The one rule every command follows for what it writes: it may remove or overwrite only what
 * it created or was told to write.
 *
 * - `checkOutputs` runs before any work: an output that resolves to one of the command's inputs
 *   (same path after resolving symbolic links, or the same device and inode: a hard link), that
 *   lies inside an input folder (a dataset), or that two outputs share, is refused.
 * - `writeOutputDir` writes a directory of files (`vggc compile --out DIR`). A new directory is
 *   filled under a temporary name and renamed into place, so an interrupted write leaves no
 *   half-written directory. An existing directory is written into only when it is empty or vggc
 *   wrote it (it holds the marker file `OUTPUT_MARKER`, listing the files vggc wrote there); a
 *   non-empty directory without the marker is refused unless `force` is set; a path that is a
 *   file is always refused. Within a directory, vggc replaces or removes only files its marker
 *   lists (from an earlier write), never anything else; with `force` it may replace files of the
 *   same names as the ones it writes, and removes nothing.
 */
import {
  lstatSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  readdirSync,
  realpathSync,
  renameSync,
  rmSync,
  statSync,
  unlinkSync,
  writeFileSync,
  type Stats,
} from 'node:fs';
import { basename, dirname, join, resolve, sep } from 'node:path';
import { fail } from '../dsl/diagnostics.js';
import { rethrowFsError } from './fsutil.js';

/** A path a command reads or writes, and what names it in messages (`--out`, `the model file`). */
export interface PathRole {
  readonly path: string;
  readonly what: string;
}

/** An input; a `folder` input (a dataset) also owns everything below it. */
export interface InputRole extends PathRole {
  readonly folder?: boolean;
}

interface Identity {
  /** The absolute path with every symbolic link resolved (of the parent, when it is absent). */
  readonly real: string;
  readonly stats?: Stats;
}

function identify(path: string): Identity {
  try {
    const stats = statSync(path);
    return { real: realpathSync(path), stats };
  } catch {
    // Absent (or a dangling link): the place it would be written.
    let parent: string;
    try {
      parent = realpathSync(dirname(resolve(path)));
    } catch {
      parent = dirname(resolve(path));
    }
    return { real: join(parent, basename(path)) };
  }
}

const sameFile = (a: Identity, b: Identity): boolean =>
  a.real === b.real ||
  (a.stats !== undefined &&
    b.stats !== undefined &&
    a.stats.dev === b.stats.dev &&
    a.stats.ino === b.stats.ino);

/**
 * Refuses, as a one-line VggcError, every output that is the same file as an input, lies inside
 * an input folder, or is named twice. Call it before any work. Inputs that do not exist are
 * skipped (reading them fails later, with its own message).
 */
export function checkOutputs(outputs: readonly PathRole[], inputs: readonly InputRole[]): void {
  const ins = inputs.map((i) => ({ ...i, id: identify(i.path) })).filter((i) => i.id.stats);
  const outs = outputs.map((o) => ({ ...o, id: identify(o.path) }));
  for (const o of outs) {
    for (const i of ins) {
      if (sameFile(o.id, i.id)) {
        fail(
          `${o.what} '${o.path}' is the same file as ${i.what} '${i.path}': ` +
            `refusing to overwrite an input`,
        );
      }
      if (i.folder && i.id.stats!.isDirectory() && o.id.real.startsWith(i.id.real + sep)) {
        fail(
          `${o.what} '${o.path}' is inside ${i.what} '${i.path}': refusing to write into an ` +
            `input folder`,
        );
      }
    }
  }
  outs.forEach((a, k) => {
    for (const b of outs.slice(k + 1)) {
      if (sameFile(a.id, b.id)) {
        fail(`${a.what} '${a.path}' and ${b.what} '${b.path}' are the same file`);
      }
    }
  });
}

/** The file vggc leaves in every directory it writes: JSON `{"written_by", "files"}`. */
export const OUTPUT_MARKER = '.vggc-output.json';

export interface OutputDirOptions {
  /** Names the directory in messages (`--out`). */
  readonly what: string;
  /** Who writes, recorded in the marker (`vggc compile`). */
  readonly writer: string;
  /** Write into a non-empty directory vggc did not write (replacing files of the same names). */
  readonly force?: boolean;
  /** Names the flag that sets `force`, for the refusal's hint. */
  readonly forceFlag?: string;
}

interface DirState {
  readonly exists: boolean;
  /** Files an earlier vggc write recorded in the marker (those it may replace or remove). */
  readonly owned: ReadonlySet<string>;
  readonly entries: readonly string[];
}

/** The files the marker of `dir` lists, or undefined when it has none (or an unreadable one). */
function readMarker(dir: string): Set<string> | undefined {
  try {
    const json = JSON.parse(readFileSync(join(dir, OUTPUT_MARKER), 'utf8')) as unknown;
    const files = (json as { files?: unknown }).files;
    if (!Array.isArray(files) || !files.every((f) => typeof f === 'string')) return undefined;
    return new Set(files.filter((f) => f === basename(f) && !f.startsWith('.')));
  } catch {
    return undefined;
  }
}

/**
 * Checks that `target` may be written as a directory (see the module comment) and returns what
 * is there. Call it before any work, and again (`writeOutputDir` does) before writing.
 */
export function checkOutputDir(target: string, opts: OutputDirOptions): DirState {
  let stats: Stats;
  try {
    stats = statSync(target);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') {
      return { exists: false, owned: new Set(), entries: [] };
    }
    rethrowFsError(target, 'write', e);
  }
  if (!stats.isDirectory()) {
    fail(
      `${opts.what} '${target}' is ${stats.isFile() ? 'a file' : 'not a directory'}: refusing ` +
        `to replace it with a directory; name a new or empty directory`,
    );
  }
  let entries: string[];
  try {
    entries = readdirSync(target);
  } catch (e) {
    rethrowFsError(target, 'read', e);
  }
  const marker = readMarker(target);
  const others = entries.filter((f) => f !== OUTPUT_MARKER && !marker?.has(f));
  if (others.length > 0 && marker === undefined && !opts.force) {
    fail(
      `${opts.what} '${target}' is a non-empty directory that vggc did not write ` +
        `(${entries.length} entr${entries.length === 1 ? 'y' : 'ies'}, no ${OUTPUT_MARKER}): ` +
        `refusing to write into it; name a new or empty directory` +
        (opts.forceFlag
          ? `, or add ${opts.forceFlag} to add the files to it (nothing is removed)`
          : ''),
    );
  }
  return { exists: true, owned: marker ?? new Set(), entries };
}

/**
 * Writes `files` (name -> content) as the directory `target`, by the rules of the module
 * comment. File names must be plain names (no directories, not starting with a dot).
 */
export function writeOutputDir(
  target: string,
  files: ReadonlyMap<string, string | Uint8Array>,
  opts: OutputDirOptions,
): void {
  for (const name of files.keys()) {
    if (name !== basename(name) || name.startsWith('.') || name === '') {
      throw new Error(`writeOutputDir: '${name}' is not a plain file name`);
    }
  }
  const state = checkOutputDir(target, opts);
  const names = [...files.keys()];
  const marker = (list: readonly string[]) =>
    JSON.stringify({ written_by: opts.writer, files: [...list].sort() }, null, 2) + '\n';
  const abs = resolve(target);
  try {
    if (!state.exists) {
      mkdirSync(dirname(abs), { recursive: true });
      const tmp = mkdtempSync(`${abs}.tmp-`);
      try {
        for (const [name, data] of files) writeFileSync(join(tmp, name), data);
        writeFileSync(join(tmp, OUTPUT_MARKER), marker(names));
        renameSync(tmp, abs);
      } catch (e) {
        rmSync(tmp, { recursive: true, force: true }); // ours: created just above
        throw e;
      }
      return;
    }
    // An existing directory: never replace a file vggc did not write, unless forced.
    const present = new Set(state.entries);
    const clash = names.find((n) => present.has(n) && !state.owned.has(n));
    if (clash !== undefined && !opts.force) {
      fail(
        `${opts.what} '${target}': '${clash}' is there and vggc did not write it: refusing to ` +
          `replace it` +
          (opts.forceFlag ? ` (add ${opts.forceFlag} to replace it)` : ''),
      );
    }
    const tmp = mkdtempSync(join(abs, '.vggc-tmp-'));
    try {
      for (const [name, data] of files) writeFileSync(join(tmp, name), data);
      // The marker first covers old and new files, so an interrupted write leaves none unlisted.
      const both = [...new Set([...state.owned, ...names])];
      writeMarker(abs, tmp, marker(both));
      for (const name of names) renameSync(join(tmp, name), join(abs, name));
      const fresh = new Set(names);
      for (const old of state.owned) {
        if (fresh.has(old)) continue;
        const p = join(abs, old);
        const st = lstatOrUndefined(p);
        if (st?.isFile()) unlinkSync(p); // a file an earlier vggc write made, now stale
      }
      writeMarker(abs, tmp, marker(names));
    } finally {
      rmSync(tmp, { recursive: true, force: true }); // ours: created just above
    }
  } catch (e) {
    rethrowFsError(target, 'write', e);
  }
}

function writeMarker(dir: string, tmp: string, text: string): void {
  const path = join(tmp, OUTPUT_MARKER);
  writeFileSync(path, text);
  renameSync(path, join(dir, OUTPUT_MARKER));
}

function lstatOrUndefined(path: string): Stats | undefined {
  try {
    return lstatSync(path);
  } catch {
    return undefined;
  }
}
