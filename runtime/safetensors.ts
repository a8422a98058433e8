/**
 * safetensors files: vggc's weight format, the one PyTorch and Hugging Face users already have.
 *
 * Layout: an 8-byte little-endian u64 N, N bytes of UTF-8 JSON, then the data buffer. The JSON
 * maps each tensor name to `{dtype, shape, data_offsets: [begin, end]}` (byte offsets into the
 * buffer) and may hold `"__metadata__": {string: string}`. The buffer must be covered exactly:
 * no overlaps, no holes, nothing after the last tensor (the format's rule against polyglot
 * files, which the reference Rust library enforces as well).
 *
 * Reading (`SafetensorsFile.open`, `readSafetensors`) validates the whole header first, then
 * reads each tensor into a Float32Array of its own through a file handle, so a multi-GB file is
 * never held in one buffer or string. F32 is read straight into the result; F16, BF16 and F64
 * are converted to float32 in chunks of at most 16 MiB. Other dtypes are accepted in the header
 * (so a file that also holds, say, an I64 step counter still opens) but refuse to be read.
 *
 * Writing (`writeSafetensors`) produces F32 tensors, sorted by name (byte order) in both the
 * header and the buffer as the reference library does for tensors of one dtype, so the same
 * tensors always give the same bytes; `__metadata__` comes first, and the header is padded with
 * spaces to a multiple of 8 bytes so the buffer is 8-byte aligned. The write streams each tensor
 * from its own array (no second copy of the weights) into a temporary file that is fsynced and
 * renamed over the target.
 *
 * Every failure is a one-line VggcError naming the file and, where there is one, the tensor.
 */
import type { FileHandle } from 'node:fs/promises';
import { fail } from '../dsl/diagnostics.js';
import {
  HOST_LITTLE_ENDIAN,
  float16Table,
  littleEndianBytes,
  openForRead,
  readFully,
  rethrowFsError,
  withAtomicWrite,
  writeAll,
} from './fsutil.js';

export interface Tensor {
  readonly shape: readonly number[];
  readonly data: Float32Array;
}

/** One tensor as the header describes it. `begin`/`end` are byte offsets into the data buffer. */
export interface TensorEntry {
  readonly name: string;
  readonly dtype: string;
  readonly shape: readonly number[];
  readonly begin: number;
  readonly end: number;
}

/** Bytes per element of the dtypes the format defines. */
export const DTYPE_SIZES: Readonly<Record<string, number>> = {
  BOOL: 1,
  U8: 1,
  I8: 1,
  F8_E5M2: 1,
  F8_E4M3: 1,
  I16: 2,
  U16: 2,
  F16: 2,
  BF16: 2,
  I32: 4,
  U32: 4,
  F32: 4,
  I64: 8,
  U64: 8,
  F64: 8,
};

/** The dtypes that read as float32. */
export const READABLE_DTYPES: readonly string[] = ['F32', 'F16', 'BF16', 'F64'];

/** The reference library's limit on the header; anything larger is not a real header. */
const MAX_HEADER = 100_000_000;
/** Scratch size for converting dtypes other than F32. */
const CONVERT_CHUNK = 1 << 24;

export const formatDims = (shape: readonly number[]): string => `[${shape.join(',')}]`;

const numel = (shape: readonly number[]): number => shape.reduce((a, d) => a * d, 1);

const isRecord = (v: unknown): v is Record<string, unknown> =>
  typeof v === 'object' && v !== null && !Array.isArray(v);

const isIndex = (v: unknown): v is number => Number.isSafeInteger(v) && (v as number) >= 0;

// ---------------------------------------------------------------------------------------------
// The header

interface Header {
  readonly entries: Map<string, TensorEntry>;
  readonly metadata: Record<string, string>;
}

/** Validates a parsed header against a data buffer of `dataLength` bytes. */
function validateHeader(json: unknown, dataLength: number, file: string): Header {
  if (!isRecord(json)) fail(`${file}: header is not a JSON object`);
  const entries = new Map<string, TensorEntry>();
  let metadata: Record<string, string> = {};
  for (const [name, value] of Object.entries(json)) {
    if (name === '__metadata__') {
      if (!isRecord(value) || !Object.values(value).every((v) => typeof v === 'string')) {
        fail(`${file}: __metadata__ must map strings to strings`);
      }
      metadata = value as Record<string, string>;
      continue;
    }
    const bad: (what: string) => never = (what) => fail(`${file}: tensor '${name}': ${what}`);
    if (!isRecord(value)) bad('header entry is not an object');
    const { dtype, shape, data_offsets: offsets } = value;
    if (typeof dtype !== 'string') bad('dtype is not a string');
    if (!Array.isArray(shape) || !shape.every((d) => typeof d === 'number')) {
      bad('shape is not a list of integers');
    }
    if (!shape.every(isIndex))
      bad(`shape ${formatDims(shape)} has a negative or non-integer dimension`);
    if (
      !Array.isArray(offsets) ||
      offsets.length !== 2 ||
      !offsets.every(isIndex) ||
      offsets[0]! > offsets[1]!
    ) {
      bad(`data_offsets ${JSON.stringify(offsets)} are not [begin, end] with 0 <= begin <= end`);
    }
    const [begin, end] = offsets as [number, number];
    const size = DTYPE_SIZES[dtype];
    if (size !== undefined) {
      const need = numel(shape) * size;
      if (need !== end - begin) {
        bad(
          `data_offsets [${begin},${end}] hold ${end - begin} bytes, but ${dtype} ${formatDims(shape)} needs ${need}`,
        );
      }
    }
    entries.set(name, { name, dtype, shape, begin, end });
  }
  // The buffer must be tiled exactly: sorted by offsets, each tensor starts where the last ended.
  const sorted = [...entries.values()].sort((a, b) => a.begin - b.begin || a.end - b.end);
  for (const e of sorted) {
    if (e.end > dataLength) {
      fail(
        `${file}: truncated: tensor '${e.name}' needs bytes [${e.begin},${e.end}) of the data, the file holds ${dataLength}`,
      );
    }
  }
  let pos = 0;
  let prev: TensorEntry | undefined;
  for (const e of sorted) {
    if (e.begin < pos && prev) {
      fail(
        `${file}: tensor '${e.name}' data_offsets [${e.begin},${e.end}] overlap tensor '${prev.name}' [${prev.begin},${prev.end}]`,
      );
    }
    if (e.begin > pos) {
      fail(`${file}: ${e.begin - pos} bytes before tensor '${e.name}' belong to no tensor`);
    }
    pos = e.end;
    prev = e;
  }
  if (pos < dataLength)
    fail(`${file}: ${dataLength - pos} bytes after the last tensor belong to no tensor`);
  return { entries, metadata };
}

// ---------------------------------------------------------------------------------------------
// Reading

/** An open safetensors file whose header has been validated. Read tensors by name; then close. */
export class SafetensorsFile {
  private constructor(
    readonly path: string,
    private readonly fh: FileHandle,
    /** Byte offset of the data buffer in the file. */
    readonly dataStart: number,
    /** The tensors in header order. */
    readonly entries: ReadonlyMap<string, TensorEntry>,
    readonly metadata: Readonly<Record<string, string>>,
  ) {}

  /** Opens `path` and validates its header; every problem is a VggcError naming the file. */
  static async open(path: string): Promise<SafetensorsFile> {
    const { fh, size } = await openForRead(path);
    try {
      if (size < 8)
        fail(
          `${path}: not a safetensors file (${size} bytes, shorter than the 8-byte header length)`,
        );
      const lenBytes = new Uint8Array(8);
      await readFully(fh, lenBytes, 0);
      const n = new DataView(lenBytes.buffer).getBigUint64(0, true);
      if (n > BigInt(size - 8)) {
        fail(
          `${path}: not a safetensors file: header length ${n} exceeds the file size (${size} bytes)`,
        );
      }
      const headerLen = Number(n);
      if (headerLen > MAX_HEADER) {
        fail(
          `${path}: header length ${headerLen} is over the format's limit of ${MAX_HEADER} bytes`,
        );
      }
      const headerBytes = new Uint8Array(headerLen);
      if ((await readFully(fh, headerBytes, 8)) < headerLen) {
        fail(`${path}: truncated: the file changed while it was read`);
      }
      let text: string;
      try {
        text = new TextDecoder('utf-8', { fatal: true }).decode(headerBytes);
      } catch {
        fail(`${path}: not a safetensors file: the header is not UTF-8 text`);
      }
      if (!text.startsWith('{'))
        fail(`${path}: not a safetensors file: the header is not a JSON object`);
      let json: unknown;
      try {
        json = JSON.parse(text);
      } catch (e) {
        const why = e instanceof Error ? e.message.split('\n')[0] : String(e);
        fail(`${path}: not a safetensors file: the header is not valid JSON (${why})`);
      }
      const dataStart = 8 + headerLen;
      const { entries, metadata } = validateHeader(json, size - dataStart, path);
      return new SafetensorsFile(path, fh, dataStart, entries, metadata);
    } catch (e) {
      await fh.close().catch(() => undefined);
      rethrowFsError(path, 'read', e);
    }
  }

  has(name: string): boolean {
    return this.entries.has(name);
  }

  /** Reads one tensor as float32 (F32 as is; F16, BF16 and F64 converted). */
  async read(name: string): Promise<Float32Array> {
    const e = this.entries.get(name);
    if (!e) fail(`${this.path}: no tensor '${name}'`);
    if (!READABLE_DTYPES.includes(e.dtype)) {
      fail(
        `${this.path}: tensor '${name}' has dtype ${e.dtype}; vggc reads ${READABLE_DTYPES.join(', ')}`,
      );
    }
    const n = numel(e.shape);
    let out: Float32Array;
    try {
      out = new Float32Array(n);
    } catch (err) {
      if (err instanceof RangeError)
        fail(`${this.path}: tensor '${name}' is too large to load (${n} values)`);
      throw err;
    }
    try {
      if (e.dtype === 'F32' && HOST_LITTLE_ENDIAN) {
        await this.readBytes(new Uint8Array(out.buffer), e.begin);
      } else {
        await this.readConverted(e, out);
      }
    } catch (err) {
      rethrowFsError(this.path, 'read', err);
    }
    return out;
  }

  private async readBytes(target: Uint8Array, begin: number): Promise<void> {
    if ((await readFully(this.fh, target, this.dataStart + begin)) < target.length) {
      fail(`${this.path}: truncated: the file changed while it was read`);
    }
  }

  /** Reads through a scratch buffer, converting each chunk into `out`. */
  private async readConverted(e: TensorEntry, out: Float32Array): Promise<void> {
    const size = DTYPE_SIZES[e.dtype]!;
    const perChunk = Math.max(1, Math.floor(CONVERT_CHUNK / size));
    const scratch = new Uint8Array(Math.min(perChunk, out.length) * size);
    const dv = new DataView(scratch.buffer);
    const f16 = e.dtype === 'F16' ? float16Table() : undefined;
    const u16 = new Uint16Array(scratch.buffer, 0, scratch.length >> 1);
    const u32out = new Uint32Array(out.buffer, out.byteOffset, out.length);
    for (let at = 0; at < out.length; at += perChunk) {
      const count = Math.min(perChunk, out.length - at);
      await this.readBytes(scratch.subarray(0, count * size), e.begin + at * size);
      if (!HOST_LITTLE_ENDIAN) {
        for (let i = 0; i < count; i++) out[at + i] = readElementLE(dv, i, e.dtype);
      } else if (f16) {
        for (let i = 0; i < count; i++) out[at + i] = f16[u16[i]!]!;
      } else if (e.dtype === 'BF16') {
        for (let i = 0; i < count; i++) u32out[at + i] = u16[i]! << 16;
      } else if (e.dtype === 'F64') {
        out.set(new Float64Array(scratch.buffer, 0, count), at);
      } else {
        out.set(new Float32Array(scratch.buffer, 0, count), at);
      }
    }
  }

  async close(): Promise<void> {
    await this.fh.close().catch(() => undefined);
  }
}

function readElementLE(dv: DataView, i: number, dtype: string): number {
  switch (dtype) {
    case 'F16':
      return float16Table()[dv.getUint16(2 * i, true)]!;
    case 'BF16':
      return new Float32Array(new Uint32Array([dv.getUint16(2 * i, true) << 16]).buffer)[0]!;
    case 'F64':
      return dv.getFloat64(8 * i, true);
    default:
      return dv.getFloat32(4 * i, true);
  }
}

/** Reads every tensor of a file (all must be of a readable dtype), in header order. */
export async function readSafetensors(
  path: string,
): Promise<{ tensors: Map<string, Tensor>; metadata: Record<string, string> }> {
  const f = await SafetensorsFile.open(path);
  try {
    const tensors = new Map<string, Tensor>();
    for (const e of f.entries.values())
      tensors.set(e.name, { shape: [...e.shape], data: await f.read(e.name) });
    return { tensors, metadata: { ...f.metadata } };
  } finally {
    await f.close();
  }
}

// ---------------------------------------------------------------------------------------------
// Writing

const byName = (a: string, b: string): number => Buffer.compare(Buffer.from(a), Buffer.from(b));

/**
 * Writes F32 tensors atomically, sorted by name, with optional `__metadata__`. Every tensor's
 * shape must hold exactly its data's length. Nothing is written when any input is invalid, and
 * a failure part way leaves no file behind and an existing file at `path` untouched.
 */
export async function writeSafetensors(
  path: string,
  tensors: ReadonlyMap<string, Tensor> | Iterable<readonly [string, Tensor]>,
  metadata?: Readonly<Record<string, string>>,
): Promise<void> {
  const list: [string, Tensor][] = [];
  const seen = new Set<string>();
  for (const [name, t] of tensors) {
    if (name === '__metadata__') fail(`${path}: cannot write: '__metadata__' is not a tensor name`);
    if (seen.has(name)) fail(`${path}: cannot write: two tensors named '${name}'`);
    seen.add(name);
    if (!t.shape.every(isIndex)) {
      fail(`${path}: cannot write tensor '${name}': bad shape ${formatDims(t.shape)}`);
    }
    if (numel(t.shape) !== t.data.length) {
      fail(
        `${path}: cannot write tensor '${name}': shape ${formatDims(t.shape)} holds ${numel(t.shape)} values, the data has ${t.data.length}`,
      );
    }
    list.push([name, t]);
  }
  list.sort((a, b) => byName(a[0], b[0]));
  if (metadata) {
    for (const [k, v] of Object.entries(metadata)) {
      if (typeof v !== 'string') fail(`${path}: cannot write: metadata '${k}' is not a string`);
    }
  }

  // Built by hand so that names which look like integers keep their place (JSON.stringify of an
  // object would move them to the front).
  const parts: string[] = [];
  if (metadata) parts.push(`"__metadata__":${JSON.stringify(metadata)}`);
  let offset = 0;
  for (const [name, t] of list) {
    const end = offset + t.data.byteLength;
    const entry = { dtype: 'F32', shape: t.shape, data_offsets: [offset, end] };
    parts.push(`${JSON.stringify(name)}:${JSON.stringify(entry)}`);
    offset = end;
  }
  const json = Buffer.from(`{${parts.join(',')}}`, 'utf8');
  const padded = Math.ceil(json.length / 8) * 8;
  const head = Buffer.alloc(8 + padded, 0x20);
  head.writeBigUInt64LE(BigInt(padded), 0);
  json.copy(head, 8);

  await withAtomicWrite(path, async (fh) => {
    await writeAll(fh, head);
    for (const [, t] of list) await writeAll(fh, littleEndianBytes(t.data));
  });
}
