/**
 * File-system helpers shared by the file formats (.npy, safetensors) and anyone else who
 * writes files: atomic writes, chunked reads and writes, and the one-line wording of I/O
 * failures.
 *
 * Atomic write: the bytes go to a temporary file in the target's directory, which is fsynced
 * and then renamed over the target. A reader therefore sees the old file or the new one, never
 * half of one; on any failure the temporary file is removed and the target is left untouched.
 */
import { randomBytes } from 'node:crypto';
import {
  closeSync,
  constants,
  fstatSync,
  openSync,
  readFileSync,
  statSync,
  type Stats,
} from 'node:fs';
import { open, rename, stat, unlink, type FileHandle } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import { VggcError, fail } from '../dsl/diagnostics.js';

/** The most bytes one read or write call moves. Node refuses more than 2 GiB - 1 per call. */
const IO_CHUNK = 1 << 26;

/** True on the (little-endian) hosts that vggc runs on; the formats fall back to DataView if not. */
export const HOST_LITTLE_ENDIAN = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;

interface FsError extends Error {
  readonly code: string;
}

export function isFsError(e: unknown): e is FsError {
  return e instanceof Error && typeof (e as { code?: unknown }).code === 'string';
}

/** `ENOENT: no such file or directory, open '/a/b'` becomes `no such file or directory`. */
export function describeFsError(e: FsError): string {
  const text = e.message
    .replace(/^[A-Z0-9_]+: /, '')
    .replace(/, \w+ '.*'( -> '.*')?$/s, '')
    .trim();
  return text || e.code;
}

/** Rethrows a file-system error as a one-line VggcError about `path`; other errors pass through. */
export function rethrowFsError(path: string, verb: 'read' | 'write', e: unknown): never {
  if (e instanceof VggcError || !isFsError(e)) throw e;
  fail(`${path}: cannot ${verb}: ${describeFsError(e)}`);
}

/** Why `st` is not a regular file, in a few words; undefined for a regular file. */
function notRegular(st: Stats): string | undefined {
  if (st.isFile()) return undefined;
  if (st.isDirectory()) return 'is a directory';
  if (st.isFIFO()) return 'is a named pipe (FIFO), not a regular file';
  if (st.isSocket()) return 'is a socket, not a regular file';
  if (st.isCharacterDevice() || st.isBlockDevice()) return 'is a device, not a regular file';
  return 'not a regular file';
}

/**
 * Opens a regular file for reading; failures (missing, a directory, no permission, a FIFO or a
 * device) are one-line VggcErrors. Every reader of a user's file goes through here (or
 * `readRegularFile` / `readRegularFileSync`): the path is checked before it is opened, and it is
 * opened non-blocking, so that a named pipe or a device named by mistake is refused at once
 * instead of blocking forever (a FIFO swapped in between the two steps is caught by the second
 * check on the open handle).
 */
export async function openForRead(path: string): Promise<{ fh: FileHandle; size: number }> {
  try {
    const why = notRegular(await stat(path));
    if (why) fail(`${path}: cannot read: ${why}`);
  } catch (e) {
    rethrowFsError(path, 'read', e);
  }
  let fh: FileHandle;
  try {
    fh = await open(path, constants.O_RDONLY | constants.O_NONBLOCK);
  } catch (e) {
    rethrowFsError(path, 'read', e);
  }
  try {
    const st = await fh.stat();
    const why = notRegular(st);
    if (why) fail(`${path}: cannot read: ${why}`);
    return { fh, size: st.size };
  } catch (e) {
    await fh.close().catch(() => undefined);
    rethrowFsError(path, 'read', e);
  }
}

/** The whole content of the regular file `path` (see `openForRead`). */
export async function readRegularFile(path: string): Promise<Buffer> {
  const { fh, size } = await openForRead(path);
  try {
    const out = Buffer.alloc(size);
    const n = await readFully(fh, out, 0);
    return n === size ? out : out.subarray(0, n);
  } catch (e) {
    rethrowFsError(path, 'read', e);
  } finally {
    await fh.close().catch(() => undefined);
  }
}

/** `readRegularFile`, synchronously: for the model source, which is read where no await is. */
export function readRegularFileSync(path: string): Buffer {
  try {
    const why = notRegular(statSync(path));
    if (why) fail(`${path}: cannot read: ${why}`);
    const fd = openSync(path, constants.O_RDONLY | constants.O_NONBLOCK);
    try {
      const again = notRegular(fstatSync(fd));
      if (again) fail(`${path}: cannot read: ${again}`);
      return readFileSync(fd);
    } finally {
      closeSync(fd);
    }
  } catch (e) {
    rethrowFsError(path, 'read', e);
  }
}

/**
 * Reads `target.length` bytes from `position` in chunks, stopping early only at end of file.
 * Returns the number of bytes read.
 */
export async function readFully(
  fh: FileHandle,
  target: Uint8Array,
  position: number,
): Promise<number> {
  let done = 0;
  while (done < target.length) {
    const n = Math.min(IO_CHUNK, target.length - done);
    const { bytesRead } = await fh.read(target, done, n, position + done);
    if (bytesRead === 0) break;
    done += bytesRead;
  }
  return done;
}

/** Writes all of `bytes` at the current file position, in chunks. */
export async function writeAll(fh: FileHandle, bytes: Uint8Array): Promise<void> {
  let done = 0;
  while (done < bytes.length) {
    const n = Math.min(IO_CHUNK, bytes.length - done);
    const { bytesWritten } = await fh.write(bytes, done, n);
    done += bytesWritten;
  }
}

function tempPathFor(path: string): string {
  const tag = `${process.pid}.${randomBytes(6).toString('hex')}`;
  return join(dirname(path), `.${basename(path)}.${tag}.tmp`);
}

/**
 * Creates `path` atomically: `fill` writes the content through the handle of a temporary file
 * in the same directory (sequential writes, e.g. with `writeAll`), which is then fsynced and
 * renamed over `path`. If `fill` or any step throws, the temporary file is removed, `path` keeps
 * its old content (or stays absent), and the error is rethrown (file-system errors as a one-line
 * VggcError naming `path`).
 */
export async function withAtomicWrite(
  path: string,
  fill: (fh: FileHandle) => Promise<void>,
): Promise<void> {
  const tmp = tempPathFor(path);
  let fh: FileHandle | undefined;
  try {
    fh = await open(tmp, 'wx');
  } catch (e) {
    rethrowFsError(path, 'write', e);
  }
  try {
    await fill(fh);
    await fh.sync();
    await fh.close();
    fh = undefined;
    await rename(tmp, path);
  } catch (e) {
    if (fh) await fh.close().catch(() => undefined);
    await unlink(tmp).catch(() => undefined);
    rethrowFsError(path, 'write', e);
  }
  // Make the rename itself durable. Best effort: not every platform can fsync a directory.
  try {
    const dir = await open(dirname(path), 'r');
    try {
      await dir.sync();
    } finally {
      await dir.close();
    }
  } catch {
    // ignored: the data is already synced; only the directory entry's durability is at stake
  }
}

/** Writes `data` to `path` atomically (temporary file, fsync, rename). See `withAtomicWrite`. */
export async function writeFileAtomic(path: string, data: Uint8Array | Buffer): Promise<void> {
  await withAtomicWrite(path, (fh) => writeAll(fh, data));
}

// ---------------------------------------------------------------------------------------------
// Number formats shared by .npy and safetensors

let halfTable: Float32Array | undefined;

/** IEEE 754 binary16 bits to a number (exact). */
export function halfToFloat(h: number): number {
  const sign = h & 0x8000 ? -1 : 1;
  const exp = (h >> 10) & 0x1f;
  const frac = h & 0x3ff;
  if (exp === 0) return sign * frac * 2 ** -24;
  if (exp === 0x1f) return frac ? NaN : sign * Infinity;
  return sign * (1 + frac / 1024) * 2 ** (exp - 15);
}

/** All 65536 binary16 values as float32, built on first use (256 KiB). */
export function float16Table(): Float32Array {
  if (!halfTable) {
    halfTable = new Float32Array(65536);
    for (let h = 0; h < 65536; h++) halfTable[h] = halfToFloat(h);
  }
  return halfTable;
}

/** The little-endian bytes of a float32/int32 array: a view on little-endian hosts, else a copy. */
export function littleEndianBytes(data: Float32Array | Int32Array): Uint8Array {
  if (HOST_LITTLE_ENDIAN) return new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
  const out = new Uint8Array(data.byteLength);
  const dv = new DataView(out.buffer);
  if (data instanceof Float32Array)
    for (let i = 0; i < data.length; i++) dv.setFloat32(4 * i, data[i]!, true);
  else for (let i = 0; i < data.length; i++) dv.setInt32(4 * i, data[i]!, true);
  return out;
}
