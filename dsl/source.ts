/**
 * From the bytes of a model file to its text. A .vgg file is UTF-8 text (a UTF-8 byte order
 * mark is allowed and dropped). Anything else is refused at once, in one line that says what the
 * file looks like, instead of being lexed into a flood of `unexpected character` errors: a
 * weight file given as the model by mistake, an .npy array, an image, an archive, UTF-16 text,
 * or bytes that are not UTF-8 at all.
 */
import { VggcError, error, type SourceFile } from './diagnostics.js';

/** Known binary formats, by their first bytes. */
const MAGIC: readonly { readonly what: string; readonly test: (b: Uint8Array) => boolean }[] = [
  { what: 'a NumPy .npy array', test: (b) => startsWith(b, [0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59]) },
  { what: 'a PNG image', test: (b) => startsWith(b, [0x89, 0x50, 0x4e, 0x47]) },
  { what: 'a JPEG image', test: (b) => startsWith(b, [0xff, 0xd8, 0xff]) },
  { what: 'a GIF image', test: (b) => startsWith(b, [0x47, 0x49, 0x46, 0x38]) },
  {
    what: 'a zip archive (a PyTorch checkpoint?)',
    test: (b) => startsWith(b, [0x50, 0x4b, 0x03, 0x04]),
  },
  { what: 'a gzip archive', test: (b) => startsWith(b, [0x1f, 0x8b]) },
  { what: 'a PDF document', test: (b) => startsWith(b, [0x25, 0x50, 0x44, 0x46, 0x2d]) },
  { what: 'an ELF executable', test: (b) => startsWith(b, [0x7f, 0x45, 0x4c, 0x46]) },
  { what: 'an ONNX model', test: isOnnx },
  { what: 'a safetensors weight file', test: isSafetensors },
];

/** ONNX: a protobuf whose first field is ir_version (field 1, varint): byte 0x08, then small. */
function isOnnx(b: Uint8Array): boolean {
  return b[0] === 0x08 && b[1] !== undefined && b[1] > 0 && b[1] < 0x20 && b[2] === 0x12;
}

function startsWith(b: Uint8Array, prefix: readonly number[]): boolean {
  return prefix.every((v, i) => b[i] === v);
}

/** safetensors: an 8-byte little-endian header length, then a JSON header starting with `{`. */
function isSafetensors(b: Uint8Array): boolean {
  if (b.length < 9 || b[8] !== 0x7b) return false;
  let n = 0;
  for (let i = 7; i >= 0; i--) n = n * 256 + b[i]!;
  return n > 0 && n <= b.length - 8;
}

/**
 * What `bytes` look like when they are not UTF-8 text, in a few words (`a safetensors weight
 * file`, `UTF-16 text`, `binary data (a NUL byte at offset 12)`); undefined for UTF-8 text.
 */
export function describeNonText(bytes: Uint8Array): string | undefined {
  for (const m of MAGIC) if (m.test(bytes)) return m.what;
  if (startsWith(bytes, [0xff, 0xfe]) || startsWith(bytes, [0xfe, 0xff])) {
    return 'UTF-16 text (save it as UTF-8)';
  }
  const nul = bytes.indexOf(0);
  if (nul >= 0) {
    // UTF-16 without a byte order mark: ASCII text with every other byte NUL.
    const odd = nul % 2;
    let text = 0;
    const n = Math.min(bytes.length, 64) & ~1;
    for (let i = 0; i < n; i += 2) {
      if (bytes[i + odd] === 0 && bytes[i + 1 - odd]! >= 0x09 && bytes[i + 1 - odd]! < 0x7f) text++;
    }
    if (n >= 4 && text === n / 2) return 'UTF-16 text (save it as UTF-8)';
    return `binary data (a NUL byte at offset ${nul})`;
  }
  try {
    new TextDecoder('utf-8', { fatal: true }).decode(bytes);
  } catch {
    return `binary data or text that is not UTF-8 (an invalid byte at offset ${firstInvalid(bytes)})`;
  }
  return undefined;
}

/** The offset of the first byte that breaks UTF-8 (bytes known not to be valid UTF-8). */
function firstInvalid(b: Uint8Array): number {
  let i = 0;
  while (i < b.length) {
    const c = b[i]!;
    const n =
      c < 0x80
        ? 0
        : c >= 0xc2 && c < 0xe0
          ? 1
          : c >= 0xe0 && c < 0xf0
            ? 2
            : c >= 0xf0 && c < 0xf5
              ? 3
              : -1;
    if (n < 0) return i;
    // The strict second-byte ranges (no overlongs, no surrogates, nothing past U+10FFFF).
    const lo = c === 0xe0 ? 0xa0 : c === 0xf0 ? 0x90 : 0x80;
    const hi = c === 0xed ? 0x9f : c === 0xf4 ? 0x8f : 0xbf;
    for (let k = 1; k <= n; k++) {
      const d = b[i + k];
      if (d === undefined) return i;
      if (k === 1 ? d < lo || d > hi : d < 0x80 || d > 0xbf) return i;
    }
    i += n + 1;
  }
  return i;
}

/**
 * The source file `name` from its bytes: UTF-8 text, its byte order mark dropped. Anything else
 * throws a one-line VggcError: `NAME: not a .vgg model file: it looks like a safetensors weight
 * file`.
 */
export function decodeSource(name: string, bytes: Uint8Array): SourceFile {
  const what = describeNonText(bytes);
  if (what !== undefined) {
    throw new VggcError(error(`${name}: not a .vgg model file: it looks like ${what}`));
  }
  const text = new TextDecoder('utf-8').decode(bytes); // drops a UTF-8 byte order mark
  return { name, text };
}
