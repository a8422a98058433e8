/**
 * NumPy `.npy` files (format versions 1.0, 2.0 and 3.0), the format of tensors on the command
 * line.
 *
 * Layout: the magic `\x93NUMPY`, a major and a minor version byte, the header length (u16 LE in
 * 1.0, u32 LE in 2.0 and 3.0), the header, then the raw array data. The header is a Python dict
 * literal such as `{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), }` padded with spaces
 * and a newline (latin-1 in 1.0/2.0, UTF-8 in 3.0).
 *
 * Reading accepts float16/32/64, signed and unsigned 8-64 bit integers and bool, in either byte
 * order, C order only, and widens or narrows them to float32 (`readNpy`) or to int32
 * (`readNpyInts`, for labels; float dtypes are refused there, as are values outside int32).
 * The data must match the shape exactly: a short or an over-long file is an error.
 * Writing produces float32 (`<f4`) or int32 (`<i4`), C order, version 1.0 (2.0 only for a header
 * over 64 KiB), with the header padded so that the data starts at a multiple of 64 bytes, as
 * NumPy does. Writes are atomic (`writeFileAtomic`).
 *
 * Every failure is a one-line VggcError that starts with the file's name.
 */
import { warnNonFinite } from './finite.js';
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

export interface NpyArray {
  readonly shape: number[];
  readonly data: Float32Array;
}

export interface NpyIntArray {
  readonly shape: number[];
  readonly data: Int32Array;
}

const MAGIC = [0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59]; // \x93NUMPY

type Kind = 'f' | 'i' | 'u' | 'b';

interface Dtype {
  readonly descr: string;
  readonly kind: Kind;
  readonly size: number;
  readonly little: boolean;
  /** NumPy's name: float32, int64, bool, ... */
  readonly name: string;
}

interface Header {
  readonly dtype: Dtype;
  readonly shape: number[];
  readonly count: number;
  /** Byte offset of the data from the start of the file. */
  readonly dataOffset: number;
}

const KIND_NAMES: Record<Kind, string> = { f: 'float', i: 'int', u: 'uint', b: 'bool' };
const SIZES: Record<Kind, readonly number[]> = {
  f: [2, 4, 8],
  i: [1, 2, 4, 8],
  u: [1, 2, 4, 8],
  b: [1],
};

const formatShape = (shape: readonly number[]): string =>
  shape.length ? shape.join('x') : 'scalar';

// ---------------------------------------------------------------------------------------------
// The header: a tiny reader for the Python literals NumPy writes

type PyValue = string | number | boolean | null | PyValue[] | Map<string, PyValue>;

class LiteralReader {
  private pos = 0;
  private depth = 0;
  constructor(
    private readonly text: string,
    private readonly file: string,
  ) {}

  private bad(what: string): never {
    fail(`${this.file}: bad .npy header: ${what} at character ${this.pos + 1}`);
  }

  private skipSpace(): void {
    while (this.pos < this.text.length && /\s/.test(this.text[this.pos]!)) this.pos++;
  }

  private peek(): string {
    this.skipSpace();
    return this.text[this.pos] ?? '';
  }

  private expect(ch: string): void {
    if (this.peek() !== ch) this.bad(`expected '${ch}'`);
    this.pos++;
  }

  /** Reads the whole text as one value followed only by whitespace. */
  readAll(): PyValue {
    const v = this.value();
    if (this.peek() !== '') this.bad('unexpected text after the header dict');
    return v;
  }

  /** Matches `re` (a sticky regex) at the current position. */
  private match(re: RegExp): string | undefined {
    re.lastIndex = this.pos;
    return re.exec(this.text)?.[0];
  }

  private value(): PyValue {
    const c = this.peek();
    if (c === '{' || c === '(' || c === '[') {
      if (++this.depth > 16) this.bad('nested too deeply');
      const v = c === '{' ? this.dict() : this.sequence(c, c === '(' ? ')' : ']');
      this.depth--;
      return v;
    }
    if (c === "'" || c === '"') return this.string();
    if (c === '-' || (c >= '0' && c <= '9')) return this.integer();
    const word = this.match(/[A-Za-z_]\w*/y);
    if (word === 'True' || word === 'False' || word === 'None') {
      this.pos += word.length;
      return word === 'None' ? null : word === 'True';
    }
    return this.bad(c ? `unexpected '${c}'` : 'unexpected end');
  }

  private dict(): Map<string, PyValue> {
    this.expect('{');
    const m = new Map<string, PyValue>();
    while (this.peek() !== '}') {
      if (this.peek() !== "'" && this.peek() !== '"') this.bad('expected a string key');
      const key = this.string();
      this.expect(':');
      m.set(key, this.value());
      if (this.peek() !== ',') break;
      this.pos++;
    }
    this.expect('}');
    return m;
  }

  private sequence(open: string, close: string): PyValue[] {
    this.expect(open);
    const items: PyValue[] = [];
    while (this.peek() !== close) {
      items.push(this.value());
      if (this.peek() !== ',') break;
      this.pos++;
    }
    this.expect(close);
    return items;
  }

  private string(): string {
    const quote = this.text[this.pos]!;
    this.pos++;
    let out = '';
    while (this.pos < this.text.length && this.text[this.pos] !== quote) {
      if (this.text[this.pos] === '\\') this.pos++;
      out += this.text[this.pos] ?? '';
      this.pos++;
    }
    if (this.pos >= this.text.length) this.bad('unterminated string');
    this.pos++;
    return out;
  }

  private integer(): number {
    const m = this.match(/-?\d+L?/y);
    if (!m) return this.bad('expected a number');
    this.pos += m.length;
    return Number(m.replace('L', ''));
  }
}

function parseDtype(descr: PyValue, file: string): Dtype {
  if (typeof descr !== 'string') {
    fail(`${file}: structured dtypes are not supported (vggc reads plain numeric arrays)`);
  }
  const m = /^([<>|=])([fiub])(\d+)$/.exec(descr);
  const kind = m?.[2] as Kind | undefined;
  const size = Number(m?.[3]);
  if (!m || !kind || !SIZES[kind].includes(size) || (m[1] === '|' && size !== 1)) {
    fail(
      `${file}: unsupported dtype '${descr}' (vggc reads float16/32/64, int8-64, uint8-64 and bool)`,
    );
  }
  const little = m[1] === '<' || m[1] === '|' || (m[1] === '=' && HOST_LITTLE_ENDIAN) || size === 1;
  const name = kind === 'b' ? 'bool' : `${KIND_NAMES[kind]}${size * 8}`;
  return { descr, kind, size, little, name };
}

interface Preamble {
  readonly major: number;
  /** Where the header text starts. */
  readonly start: number;
  /** Where the data starts: the end of the header. */
  readonly dataOffset: number;
}

/** Checks the magic, the version and the header length of a file of `total` bytes. */
function parsePreamble(bytes: Uint8Array, total: number, file: string): Preamble {
  if (bytes.length < 8 || MAGIC.some((b, i) => bytes[i] !== b)) {
    fail(`${file}: not a .npy file (bad magic)`);
  }
  const major = bytes[6]!;
  const minor = bytes[7]!;
  if (major < 1 || major > 3) {
    fail(`${file}: unsupported .npy format version ${major}.${minor} (vggc reads 1.0, 2.0, 3.0)`);
  }
  const start = major === 1 ? 10 : 12;
  if (total < start || bytes.length < start) {
    fail(`${file}: truncated: the file ends inside the .npy preamble`);
  }
  const dv = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const headerLen = major === 1 ? dv.getUint16(8, true) : dv.getUint32(8, true);
  if (start + headerLen > total) {
    fail(
      `${file}: truncated: header length ${headerLen} runs past the end of the file (${total} bytes)`,
    );
  }
  return { major, start, dataOffset: start + headerLen };
}

/** Parses preamble and header; `bytes` holds at least the header, `total` is the file's size. */
function parseHeader(bytes: Uint8Array, total: number, file: string): Header {
  const { major, start, dataOffset } = parsePreamble(bytes, total, file);
  if (bytes.length < dataOffset) throw new Error(`internal: npy header needs ${dataOffset} bytes`);
  let text: string;
  try {
    const encoding = major === 3 ? 'utf-8' : 'latin1';
    text = new TextDecoder(encoding, { fatal: true }).decode(bytes.subarray(start, dataOffset));
  } catch {
    fail(`${file}: bad .npy header: not valid UTF-8`);
  }
  const dict = new LiteralReader(text, file).readAll();
  if (!(dict instanceof Map)) fail(`${file}: bad .npy header: not a dict`);
  for (const key of ['descr', 'fortran_order', 'shape']) {
    if (!dict.has(key)) fail(`${file}: bad .npy header: no '${key}' key`);
  }
  const dtype = parseDtype(dict.get('descr')!, file);
  const fortran = dict.get('fortran_order');
  if (typeof fortran !== 'boolean') {
    fail(`${file}: bad .npy header: fortran_order is not True or False`);
  }
  if (fortran) {
    fail(
      `${file}: Fortran-order arrays are not supported; save it in C order (np.ascontiguousarray)`,
    );
  }
  const rawShape = dict.get('shape');
  if (!Array.isArray(rawShape) || !rawShape.every((d) => typeof d === 'number')) {
    fail(`${file}: bad .npy header: shape is not a tuple of integers`);
  }
  const shape = rawShape as number[];
  if (shape.some((d) => !Number.isSafeInteger(d) || d < 0)) {
    fail(`${file}: bad .npy header: shape (${shape.join(', ')}) has a negative or huge dimension`);
  }
  const count = shape.reduce((a, d) => a * d, 1);
  if (!Number.isSafeInteger(count * dtype.size)) {
    fail(`${file}: shape ${formatShape(shape)} is too large`);
  }
  const need = count * dtype.size;
  const have = total - dataOffset;
  const says = `header says ${formatShape(shape)} ${dtype.name} (${need} bytes)`;
  if (have < need) fail(`${file}: truncated: ${says}, file holds ${have} bytes of data`);
  if (have > need) {
    fail(`${file}: ${have - need} bytes after the data: ${says}, file holds ${have} bytes of data`);
  }
  return { dtype, shape, count, dataOffset };
}

// ---------------------------------------------------------------------------------------------
// Conversion of the raw data. `raw` starts at offset 0 of its own buffer, so typed views align.

/** One element of any supported dtype, read through a DataView (the general path). */
function elementAt(dv: DataView, i: number, dt: Dtype): number | bigint {
  const o = i * dt.size;
  switch (`${dt.kind}${dt.size}`) {
    case 'f2':
      return float16Table()[dv.getUint16(o, dt.little)]!;
    case 'f4':
      return dv.getFloat32(o, dt.little);
    case 'f8':
      return dv.getFloat64(o, dt.little);
    case 'i1':
      return dv.getInt8(o);
    case 'i2':
      return dv.getInt16(o, dt.little);
    case 'i4':
      return dv.getInt32(o, dt.little);
    case 'i8':
      return dv.getBigInt64(o, dt.little);
    case 'u1':
      return dv.getUint8(o);
    case 'b1':
      return dv.getUint8(o) ? 1 : 0;
    case 'u2':
      return dv.getUint16(o, dt.little);
    case 'u4':
      return dv.getUint32(o, dt.little);
    default:
      return dv.getBigUint64(o, dt.little);
  }
}

/** A typed-array view for the cases whose values a plain `.set` converts, else undefined. */
function nativeView(raw: Uint8Array, dt: Dtype, n: number): ArrayLike<number> | undefined {
  if (dt.size > 1 && dt.little !== HOST_LITTLE_ENDIAN) return undefined;
  const b = raw.buffer;
  switch (`${dt.kind}${dt.size}`) {
    case 'f4':
      return new Float32Array(b, 0, n);
    case 'f8':
      return new Float64Array(b, 0, n);
    case 'i1':
      return new Int8Array(b, 0, n);
    case 'i2':
      return new Int16Array(b, 0, n);
    case 'i4':
      return new Int32Array(b, 0, n);
    case 'u1':
      return raw;
    case 'u2':
      return new Uint16Array(b, 0, n);
    default:
      return undefined; // f2 (table), u4 (range check for int32), 64-bit ints, bool, byte-swapped
  }
}

function allocate<T>(ctor: new (n: number) => T, n: number, file: string): T {
  try {
    return new ctor(n);
  } catch (e) {
    if (e instanceof RangeError) fail(`${file}: ${n} values are too many to load into memory`);
    throw e;
  }
}

function toFloat32(raw: Uint8Array, h: Header, file: string): Float32Array {
  const { dtype: dt, count: n } = h;
  if (dt.kind === 'f' && dt.size === 4 && dt.little === HOST_LITTLE_ENDIAN) {
    return new Float32Array(raw.buffer, 0, n); // the common case: no copy
  }
  const out = allocate(Float32Array, n, file);
  const view = nativeView(raw, dt, n);
  if (view) {
    out.set(view);
  } else if (dt.kind === 'f' && dt.size === 2 && dt.little === HOST_LITTLE_ENDIAN) {
    const table = float16Table();
    const u16 = new Uint16Array(raw.buffer, 0, n);
    for (let i = 0; i < n; i++) out[i] = table[u16[i]!]!;
  } else {
    const dv = new DataView(raw.buffer, 0, raw.byteLength);
    for (let i = 0; i < n; i++) out[i] = Number(elementAt(dv, i, dt));
  }
  return out;
}

function requireIntegerDtype(h: Header, file: string): void {
  if (h.dtype.kind === 'f') {
    fail(
      `${file}: dtype ${h.dtype.name} ('${h.dtype.descr}') is not an integer type; labels must be integers`,
    );
  }
}

function toInt32(raw: Uint8Array, h: Header, file: string): Int32Array {
  requireIntegerDtype(h, file);
  const { dtype: dt, count: n } = h;
  const out = allocate(Int32Array, n, file);
  const view = nativeView(raw, dt, n);
  if (view) {
    out.set(view);
    return out;
  }
  const dv = new DataView(raw.buffer, 0, raw.byteLength);
  for (let i = 0; i < n; i++) {
    const v = elementAt(dv, i, dt);
    if (v < -2147483648 || v > 2147483647) {
      fail(`${file}: value ${v} at index ${i} does not fit in int32`);
    }
    out[i] = Number(v);
  }
  return out;
}

// ---------------------------------------------------------------------------------------------
// Reading

/** Copies `bytes[from, from+n)` into a fresh, aligned buffer (the typed views need alignment). */
function dataCopy(bytes: Uint8Array, h: Header, file: string): Uint8Array {
  const n = h.count * h.dtype.size;
  const out = allocate(Uint8Array, n, file);
  out.set(bytes.subarray(h.dataOffset, h.dataOffset + n));
  return out;
}

/** Parses an in-memory .npy file to float32. `file` names it in error messages. */
export function parseNpy(bytes: Uint8Array, file: string): NpyArray {
  const h = parseHeader(bytes, bytes.length, file);
  return { shape: h.shape, data: toFloat32(dataCopy(bytes, h, file), h, file) };
}

/** Parses an in-memory .npy file of integers (or bools) to int32. */
export function parseNpyInts(bytes: Uint8Array, file: string): NpyIntArray {
  const h = parseHeader(bytes, bytes.length, file);
  requireIntegerDtype(h, file);
  return { shape: h.shape, data: toInt32(dataCopy(bytes, h, file), h, file) };
}

/**
 * Reads the header, checks it against the file's size before reading any data, then reads the
 * data into a buffer of its own.
 */
async function readRaw(path: string, check?: (h: Header) => void): Promise<[Header, Uint8Array]> {
  const { fh, size } = await openForRead(path);
  const changed: () => never = () => fail(`${path}: truncated: the file changed while it was read`);
  try {
    const preamble = new Uint8Array(Math.min(size, 12));
    await readFully(fh, preamble, 0);
    const { dataOffset } = parsePreamble(preamble, size, path);
    const head = new Uint8Array(dataOffset);
    if ((await readFully(fh, head, 0)) < dataOffset) changed();
    const h = parseHeader(head, size, path);
    check?.(h);
    const raw = allocate(Uint8Array, h.count * h.dtype.size, path);
    if ((await readFully(fh, raw, h.dataOffset)) < raw.length) changed();
    return [h, raw];
  } catch (e) {
    rethrowFsError(path, 'read', e);
  } finally {
    await fh.close().catch(() => undefined);
  }
}

/** Reads a .npy file as float32 (every supported dtype is converted). */
export async function readNpy(path: string): Promise<NpyArray> {
  const [h, raw] = await readRaw(path);
  const data = toFloat32(raw, h, path);
  warnNonFinite(path, [['', data]]); // once per file: NaN or Inf inputs or images
  return { shape: h.shape, data };
}

/** Reads a .npy file of integers (or bools) as int32; float dtypes and out-of-range values fail. */
export async function readNpyInts(path: string): Promise<NpyIntArray> {
  const [h, raw] = await readRaw(path, (hd) => requireIntegerDtype(hd, path));
  return { shape: h.shape, data: toInt32(raw, h, path) };
}

// ---------------------------------------------------------------------------------------------
// Writing

function checkShape(shape: readonly number[], length: number, file: string): void {
  if (shape.some((d) => !Number.isSafeInteger(d) || d < 0)) {
    fail(`${file}: cannot write: bad shape [${shape.join(', ')}]`);
  }
  const count = shape.reduce((a, d) => a * d, 1);
  if (count !== length) {
    fail(
      `${file}: cannot write: shape ${formatShape(shape)} holds ${count} values, data has ${length}`,
    );
  }
}

/** The preamble and header of a .npy file, padded so that the data starts at a multiple of 64. */
function encodeHeader(shape: readonly number[], descr: string): Uint8Array {
  const dims = shape.length === 1 ? `(${shape[0]},)` : `(${shape.join(', ')})`;
  const dict = `{'descr': '${descr}', 'fortran_order': False, 'shape': ${dims}, }`;
  const padded = (start: number): number => Math.ceil((start + dict.length + 1) / 64) * 64;
  const major = padded(10) - 10 <= 0xffff ? 1 : 2;
  const start = major === 1 ? 10 : 12;
  const total = padded(start);
  const out = new Uint8Array(total);
  out.set(MAGIC, 0);
  out[6] = major;
  out[7] = 0;
  const dv = new DataView(out.buffer);
  if (major === 1) dv.setUint16(8, total - start, true);
  else dv.setUint32(8, total - start, true);
  out.fill(0x20, start, total - 1);
  for (let i = 0; i < dict.length; i++) out[start + i] = dict.charCodeAt(i);
  out[total - 1] = 0x0a; // '\n'
  return out;
}

const descrOf = (data: Float32Array | Int32Array): string =>
  data instanceof Float32Array ? '<f4' : '<i4';

/**
 * A whole .npy file in memory: Float32Array data as `<f4`, Int32Array as `<i4`, C order.
 * `shape` must hold exactly `data.length` values (`[]` for a scalar). `file` names it in errors.
 */
export function encodeNpy(
  shape: readonly number[],
  data: Float32Array | Int32Array,
  file = '<npy>',
): Uint8Array {
  checkShape(shape, data.length, file);
  const header = encodeHeader(shape, descrOf(data));
  const out = new Uint8Array(header.length + data.byteLength);
  out.set(header, 0);
  out.set(littleEndianBytes(data), header.length);
  return out;
}

/**
 * Writes a .npy file atomically (temporary file, fsync, rename), streaming the data without a
 * copy. Float32Array data becomes `<f4`, Int32Array `<i4`. On failure nothing is left behind
 * and an existing file at `path` keeps its content.
 */
export async function writeNpy(
  path: string,
  shape: readonly number[],
  data: Float32Array | Int32Array,
): Promise<void> {
  checkShape(shape, data.length, path);
  const header = encodeHeader(shape, descrOf(data));
  await withAtomicWrite(path, async (fh) => {
    await writeAll(fh, header);
    await writeAll(fh, littleEndianBytes(data));
  });
}
