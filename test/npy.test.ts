import { mkdir, mkdtemp, readFile, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { VggcError } from '../dsl/diagnostics.js';
import { withAtomicWrite, writeAll, writeFileAtomic } from '../runtime/fsutil.js';
import {
  encodeNpy,
  parseNpy,
  parseNpyInts,
  readNpy,
  readNpyInts,
  writeNpy,
} from '../runtime/npy.js';

let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'vggc-npy-'));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

/** A .npy file built byte by byte: magic, version, header length, header text, data. */
function npyBytes(header: string, data: Uint8Array, major = 1, pad = true): Uint8Array {
  const start = major === 1 ? 10 : 12;
  let text = header;
  if (pad) {
    const total = Math.ceil((start + text.length + 1) / 64) * 64;
    text = text + ' '.repeat(total - start - text.length - 1) + '\n';
  }
  const headerBytes = new TextEncoder().encode(text);
  const out = new Uint8Array(start + headerBytes.length + data.length);
  out.set([0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59, major, 0]);
  const dv = new DataView(out.buffer);
  if (major === 1) dv.setUint16(8, headerBytes.length, true);
  else dv.setUint32(8, headerBytes.length, true);
  out.set(headerBytes, start);
  out.set(data, start + headerBytes.length);
  return out;
}

const dict = (descr: string, shape: string, fortran = 'False'): string =>
  `{'descr': '${descr}', 'fortran_order': ${fortran}, 'shape': ${shape}, }`;

/** Bytes written through a DataView by `put(dv, i, value)` for each value. */
function bytesOf(
  values: readonly (number | bigint)[],
  size: number,
  put: (dv: DataView, offset: number, v: never) => void,
): Uint8Array {
  const out = new Uint8Array(values.length * size);
  const dv = new DataView(out.buffer);
  values.forEach((v, i) => put(dv, i * size, v as never));
  return out;
}

async function fixture(name: string, bytes: Uint8Array): Promise<string> {
  const path = join(dir, name);
  await writeFile(path, bytes);
  return path;
}

/** The message of the VggcError that `p` rejects with. */
async function failure(p: Promise<unknown>): Promise<string> {
  try {
    await p;
  } catch (e) {
    expect(e).toBeInstanceOf(VggcError);
    const msg = (e as VggcError).message;
    expect(msg).not.toContain('\n');
    return msg;
  }
  throw new Error('expected a VggcError');
}

function syncFailure(f: () => unknown): string {
  try {
    f();
  } catch (e) {
    expect(e).toBeInstanceOf(VggcError);
    return (e as VggcError).message;
  }
  throw new Error('expected a VggcError');
}

async function tempLeftovers(d: string): Promise<string[]> {
  return (await readdir(d)).filter((f) => f.endsWith('.tmp'));
}

describe('reading hand-made .npy files', () => {
  it('reads a float32 file whose bytes were written by hand', async () => {
    const data = bytesOf([1.5, -2, 0.25, 3e38, -0, 7], 4, (dv, o, v: number) =>
      dv.setFloat32(o, v, true),
    );
    const path = await fixture('f4.npy', npyBytes(dict('<f4', '(2, 3)'), data));
    const a = await readNpy(path);
    expect(a.shape).toEqual([2, 3]);
    expect(Array.from(a.data)).toEqual([1.5, -2, 0.25, Math.fround(3e38), -0, 7]);
  });

  it('reads an unpadded header, a 1-d shape and a scalar', async () => {
    const one = npyBytes(
      `{'descr':'<f4','fortran_order':False,'shape':(3,)}`,
      bytesOf([1, 2, 3], 4, (dv, o, v: number) => dv.setFloat32(o, v, true)),
      1,
      false,
    );
    expect(parseNpy(one, 'one.npy')).toEqual({ shape: [3], data: new Float32Array([1, 2, 3]) });
    const scalar = npyBytes(
      dict('<f4', '()'),
      bytesOf([4.5], 4, (dv, o, v: number) => dv.setFloat32(o, v, true)),
    );
    expect(parseNpy(scalar, 's.npy')).toEqual({ shape: [], data: new Float32Array([4.5]) });
  });

  it('reads an empty array', async () => {
    const a = parseNpy(npyBytes(dict('<f4', '(0, 5)'), new Uint8Array(0)), 'e.npy');
    expect(a.shape).toEqual([0, 5]);
    expect(a.data.length).toBe(0);
  });

  it('reads Python 2 style shapes (2L, 3L) and double-quoted keys', () => {
    const data = bytesOf([1, 2, 3, 4, 5, 6], 4, (dv, o, v: number) => dv.setFloat32(o, v, true));
    const a = parseNpy(
      npyBytes(`{"descr": "<f4", "fortran_order": False, "shape": (2L, 3L)}`, data),
      'p.npy',
    );
    expect(a.shape).toEqual([2, 3]);
  });

  it('reads format versions 2.0 and 3.0', async () => {
    const data = bytesOf([1, 2], 4, (dv, o, v: number) => dv.setFloat32(o, v, true));
    expect(parseNpy(npyBytes(dict('<f4', '(2,)'), data, 2), 'v2.npy').data).toEqual(
      new Float32Array([1, 2]),
    );
    // 3.0 allows UTF-8 in the header.
    const utf8 = `{'descr': '<f4', 'fortran_order': False, 'shape': (2,), 'note': 'é', }`;
    const path = await fixture('v3.npy', npyBytes(utf8, data, 3));
    expect((await readNpy(path)).data).toEqual(new Float32Array([1, 2]));
  });

  it('widens float16 (0x3C00 = 1, 0xC000 = -2), float64 and every integer dtype to float32', () => {
    const f2 = bytesOf([0x3c00, 0xc000, 0x7bff, 0x0001, 0x7c00], 2, (dv, o, v: number) =>
      dv.setUint16(o, v, true),
    );
    expect(Array.from(parseNpy(npyBytes(dict('<f2', '(5,)'), f2), 'h.npy').data)).toEqual([
      1,
      -2,
      65504,
      2 ** -24,
      Infinity,
    ]);

    const f8 = bytesOf([1.5, -0.1], 8, (dv, o, v: number) => dv.setFloat64(o, v, true));
    expect(Array.from(parseNpy(npyBytes(dict('<f8', '(2,)'), f8), 'd.npy').data)).toEqual([
      1.5,
      Math.fround(-0.1),
    ]);

    const cases: [
      string,
      number,
      (dv: DataView, o: number, v: never) => void,
      (number | bigint)[],
      number[],
    ][] = [
      ['<i1', 1, (dv, o, v: number) => dv.setInt8(o, v), [-128, 127], [-128, 127]],
      ['|i1', 1, (dv, o, v: number) => dv.setInt8(o, v), [-5, 5], [-5, 5]],
      ['<u1', 1, (dv, o, v: number) => dv.setUint8(o, v), [0, 255], [0, 255]],
      ['|u1', 1, (dv, o, v: number) => dv.setUint8(o, v), [7, 200], [7, 200]],
      ['<i2', 2, (dv, o, v: number) => dv.setInt16(o, v, true), [-32768, 1234], [-32768, 1234]],
      ['<u2', 2, (dv, o, v: number) => dv.setUint16(o, v, true), [65535, 3], [65535, 3]],
      [
        '<i4',
        4,
        (dv, o, v: number) => dv.setInt32(o, v, true),
        [-2147483648, 99],
        [-2147483648, 99],
      ],
      ['<u4', 4, (dv, o, v: number) => dv.setUint32(o, v, true), [4294967295, 1], [4294967296, 1]],
      ['<i8', 8, (dv, o, v: bigint) => dv.setBigInt64(o, v, true), [-3n, 1n << 40n], [-3, 2 ** 40]],
      ['<u8', 8, (dv, o, v: bigint) => dv.setBigUint64(o, v, true), [5n, 6n], [5, 6]],
      ['|b1', 1, (dv, o, v: number) => dv.setUint8(o, v), [1, 0], [1, 0]],
    ];
    for (const [descr, size, put, values, expected] of cases) {
      const a = parseNpy(npyBytes(dict(descr, '(2,)'), bytesOf(values, size, put)), 'x.npy');
      expect(Array.from(a.data), descr).toEqual(expected);
    }
  });

  it('reads big-endian data', () => {
    const be = bytesOf([1.25, -3], 4, (dv, o, v: number) => dv.setFloat32(o, v, false));
    expect(Array.from(parseNpy(npyBytes(dict('>f4', '(2,)'), be), 'b.npy').data)).toEqual([
      1.25, -3,
    ]);
    const bi = bytesOf([-7, 300], 2, (dv, o, v: number) => dv.setInt16(o, v, false));
    expect(Array.from(parseNpyInts(npyBytes(dict('>i2', '(2,)'), bi), 'b.npy').data)).toEqual([
      -7, 300,
    ]);
  });

  it('reads integer labels as int32', async () => {
    const i8 = bytesOf([0n, 9n, -1n, 2147483647n], 8, (dv, o, v: bigint) =>
      dv.setBigInt64(o, v, true),
    );
    const path = await fixture('labels.npy', npyBytes(dict('<i8', '(2, 2)'), i8));
    const a = await readNpyInts(path);
    expect(a.shape).toEqual([2, 2]);
    expect(a.data).toEqual(new Int32Array([0, 9, -1, 2147483647]));
    const u1 = bytesOf([3, 255], 1, (dv, o, v: number) => dv.setUint8(o, v));
    expect(parseNpyInts(npyBytes(dict('|u1', '(2,)'), u1), 'u.npy').data).toEqual(
      new Int32Array([3, 255]),
    );
    const b1 = bytesOf([1, 0, 1], 1, (dv, o, v: number) => dv.setUint8(o, v));
    expect(parseNpyInts(npyBytes(dict('|b1', '(3,)'), b1), 'b.npy').data).toEqual(
      new Int32Array([1, 0, 1]),
    );
  });
});

describe('.npy errors name the file', () => {
  const f4 = (n: number) => new Uint8Array(4 * n);

  it('bad magic, empty file, unknown version', async () => {
    expect(
      await failure(readNpy(await fixture('text.npy', new TextEncoder().encode('hello, world')))),
    ).toBe(`${join(dir, 'text.npy')}: not a .npy file (bad magic)`);
    expect(await failure(readNpy(await fixture('empty.npy', new Uint8Array(0))))).toMatch(
      /empty\.npy: not a \.npy file \(bad magic\)$/,
    );
    const v4 = npyBytes(dict('<f4', '(1,)'), f4(1));
    v4[6] = 4;
    expect(syncFailure(() => parseNpy(v4, 'X.npy'))).toBe(
      'X.npy: unsupported .npy format version 4.0 (vggc reads 1.0, 2.0, 3.0)',
    );
  });

  it('a file that ends inside the preamble or the header', async () => {
    const short = npyBytes(dict('<f4', '(1,)'), f4(1)).subarray(0, 9);
    expect(await failure(readNpy(await fixture('short.npy', short)))).toMatch(
      /short\.npy: truncated: the file ends inside the \.npy preamble$/,
    );
    const cut = npyBytes(dict('<f4', '(1,)'), f4(0)).subarray(0, 40);
    expect(await failure(readNpy(await fixture('cut.npy', cut)))).toMatch(
      /cut\.npy: truncated: header length 118 runs past the end of the file \(40 bytes\)$/,
    );
  });

  it('truncated data', async () => {
    const path = await fixture(
      'X.npy',
      npyBytes(dict('<f4', '(2, 3, 224, 224)'), new Uint8Array(1000)),
    );
    expect(await failure(readNpy(path))).toBe(
      `${path}: truncated: header says 2x3x224x224 float32 (1204224 bytes), file holds 1000 bytes of data`,
    );
    expect(
      syncFailure(() =>
        parseNpy(npyBytes(dict('<f4', '(2, 3, 224, 224)'), new Uint8Array(1000)), 'X.npy'),
      ),
    ).toBe(
      'X.npy: truncated: header says 2x3x224x224 float32 (1204224 bytes), file holds 1000 bytes of data',
    );
  });

  it('data longer than the shape', async () => {
    const path = await fixture('long.npy', npyBytes(dict('<f4', '(2, 3)'), f4(8)));
    expect(await failure(readNpy(path))).toBe(
      `${path}: 8 bytes after the data: header says 2x3 float32 (24 bytes), file holds 32 bytes of data`,
    );
  });

  it('Fortran order', async () => {
    const path = await fixture('F.npy', npyBytes(dict('<f4', '(2, 3)', 'True'), f4(6)));
    expect(await failure(readNpy(path))).toBe(
      `${path}: Fortran-order arrays are not supported; save it in C order (np.ascontiguousarray)`,
    );
  });

  it('unsupported and structured dtypes', () => {
    expect(syncFailure(() => parseNpy(npyBytes(dict('<c8', '(1,)'), f4(2)), 'c.npy'))).toBe(
      "c.npy: unsupported dtype '<c8' (vggc reads float16/32/64, int8-64, uint8-64 and bool)",
    );
    expect(syncFailure(() => parseNpy(npyBytes(dict('|f4', '(1,)'), f4(1)), 'c.npy'))).toMatch(
      /^c\.npy: unsupported dtype '\|f4'/,
    );
    const structured = `{'descr': [('x', '<f4'), ('y', '<f4')], 'fortran_order': False, 'shape': (1,), }`;
    expect(syncFailure(() => parseNpy(npyBytes(structured, f4(2)), 's.npy'))).toBe(
      's.npy: structured dtypes are not supported (vggc reads plain numeric arrays)',
    );
  });

  it('malformed headers', () => {
    const bad = (header: string) => syncFailure(() => parseNpy(npyBytes(header, f4(1)), 'h.npy'));
    expect(bad(`{'descr': '<f4', 'shape': (1,), }`)).toBe(
      "h.npy: bad .npy header: no 'fortran_order' key",
    );
    expect(bad(`{'descr': '<f4', 'fortran_order': False, 'shape': (1,)`)).toMatch(
      /^h\.npy: bad \.npy header: expected '}'/,
    );
    expect(bad(`{'descr': '<f4', 'fortran_order': 0, 'shape': (1,)}`)).toBe(
      'h.npy: bad .npy header: fortran_order is not True or False',
    );
    expect(bad(`{'descr': '<f4', 'fortran_order': False, 'shape': (-1,)}`)).toBe(
      'h.npy: bad .npy header: shape (-1) has a negative or huge dimension',
    );
    expect(bad(`{'descr': '<f4', 'fortran_order': False, 'shape': '1'}`)).toBe(
      'h.npy: bad .npy header: shape is not a tuple of integers',
    );
    expect(bad(`['descr']`)).toBe('h.npy: bad .npy header: not a dict');
    expect(bad(`{'x': ${'['.repeat(10000)}`)).toMatch(
      /^h\.npy: bad \.npy header: nested too deeply/,
    );
    expect(bad(`{1: 2}`)).toMatch(/^h\.npy: bad \.npy header: expected a string key/);
    expect(bad(`{'descr': '<f4`)).toMatch(/^h\.npy: bad \.npy header: unterminated string/);
    expect(bad(`{'descr': '<f4', 'fortran_order': False, 'shape': (1,)} x`)).toMatch(
      /unexpected text after/,
    );
  });

  it('readNpyInts refuses float dtypes and values outside int32', async () => {
    const path = await fixture('float-labels.npy', npyBytes(dict('<f4', '(2,)'), f4(2)));
    expect(await failure(readNpyInts(path))).toBe(
      `${path}: dtype float32 ('<f4') is not an integer type; labels must be integers`,
    );
    const big = bytesOf([1n, 1n << 31n], 8, (dv, o, v: bigint) => dv.setBigInt64(o, v, true));
    expect(syncFailure(() => parseNpyInts(npyBytes(dict('<i8', '(2,)'), big), 'L.npy'))).toBe(
      'L.npy: value 2147483648 at index 1 does not fit in int32',
    );
    const u4 = bytesOf([4294967295], 4, (dv, o, v: number) => dv.setUint32(o, v, true));
    expect(syncFailure(() => parseNpyInts(npyBytes(dict('<u4', '(1,)'), u4), 'L.npy'))).toBe(
      'L.npy: value 4294967295 at index 0 does not fit in int32',
    );
  });

  it('a missing file and a directory', async () => {
    const missing = join(dir, 'nope.npy');
    expect(await failure(readNpy(missing))).toBe(
      `${missing}: cannot read: no such file or directory`,
    );
    const sub = join(dir, 'adir.npy');
    await mkdir(sub);
    expect(await failure(readNpy(sub))).toBe(`${sub}: cannot read: is a directory`);
  });
});

describe('writing .npy', () => {
  it('writes the header NumPy writes, padded to 64 bytes', () => {
    const bytes = encodeNpy([2, 3], new Float32Array(6));
    const headerLen = bytes[8]! | (bytes[9]! << 8);
    expect((10 + headerLen) % 64).toBe(0);
    const text = new TextDecoder().decode(bytes.subarray(10, 10 + headerLen));
    expect(text.trimEnd()).toBe("{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), }");
    expect(text.endsWith(' \n')).toBe(true);
    const one = new TextDecoder().decode(encodeNpy([5], new Int32Array(5)).subarray(10, 74));
    expect(one.trimEnd()).toBe("{'descr': '<i4', 'fortran_order': False, 'shape': (5,), }");
  });

  it('round-trips float32 and int32, scalars and empty arrays through files', async () => {
    const data = new Float32Array(2 * 3 * 5 * 7).map((_, i) => Math.sin(i) * 1e3 + 1 / (i + 1));
    const path = join(dir, 'rt.npy');
    await writeNpy(path, [2, 3, 5, 7], data);
    expect(await readNpy(path)).toEqual({ shape: [2, 3, 5, 7], data });
    const ints = new Int32Array([-2147483648, -1, 0, 1, 2147483647, 42]);
    await writeNpy(path, [6], ints);
    expect(await readNpyInts(path)).toEqual({ shape: [6], data: ints });
    expect((await readNpy(path)).data).toEqual(new Float32Array(ints));
    await writeNpy(path, [], new Float32Array([3.25]));
    expect(await readNpy(path)).toEqual({ shape: [], data: new Float32Array([3.25]) });
    await writeNpy(path, [4, 0], new Float32Array(0));
    expect(await readNpy(path)).toEqual({ shape: [4, 0], data: new Float32Array(0) });
    // The in-memory encoder writes the same bytes.
    expect(new Uint8Array(await readFile(path))).toEqual(encodeNpy([4, 0], new Float32Array(0)));
    expect(await tempLeftovers(dir)).toEqual([]);
  });

  it('writes subarray views with the right bytes', async () => {
    const big = new Float32Array([9, 9, 1, 2, 3, 9]);
    const path = join(dir, 'view.npy');
    await writeNpy(path, [3], big.subarray(2, 5));
    expect((await readNpy(path)).data).toEqual(new Float32Array([1, 2, 3]));
  });

  it('a shape that does not match the data writes nothing and keeps an existing file', async () => {
    const path = join(dir, 'keep.npy');
    await writeNpy(path, [2], new Float32Array([1, 2]));
    const before = await readFile(path);
    expect(await failure(writeNpy(path, [2, 3], new Float32Array(5)))).toBe(
      `${path}: cannot write: shape 2x3 holds 6 values, data has 5`,
    );
    expect(await failure(writeNpy(path, [-1], new Float32Array(0)))).toMatch(
      /cannot write: bad shape/,
    );
    expect(await readFile(path)).toEqual(before);
    const fresh = join(dir, 'never.npy');
    await failure(writeNpy(fresh, [3], new Float32Array(2)));
    expect((await readdir(dir)).includes('never.npy')).toBe(false);
    expect(await tempLeftovers(dir)).toEqual([]);
  });

  it('an I/O failure names the file and leaves nothing behind', async () => {
    const inMissingDir = join(dir, 'no-such-dir', 'a.npy');
    expect(await failure(writeNpy(inMissingDir, [1], new Float32Array(1)))).toBe(
      `${inMissingDir}: cannot write: no such file or directory`,
    );
    // Renaming over a non-empty directory fails after the data was written.
    const target = join(dir, 'occupied');
    await mkdir(target);
    await writeFile(join(target, 'inside'), 'x');
    expect(await failure(writeNpy(target, [1], new Float32Array(1)))).toMatch(
      new RegExp(`^${target.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}: cannot write: `),
    );
    expect(await readdir(target)).toEqual(['inside']);
    expect(await tempLeftovers(dir)).toEqual([]);
  });
});

describe('writeFileAtomic', () => {
  it('replaces the content of an existing file', async () => {
    const path = join(dir, 'atomic.bin');
    await writeFileAtomic(path, new Uint8Array([1, 2, 3]));
    await writeFileAtomic(path, Buffer.from('hello'));
    expect((await readFile(path)).toString()).toBe('hello');
  });

  it('a failure part way through keeps the old file and removes the temporary one', async () => {
    const path = join(dir, 'half.bin');
    await writeFileAtomic(path, Buffer.from('old'));
    await expect(
      withAtomicWrite(path, async (fh) => {
        await writeAll(fh, new Uint8Array(1000));
        throw new Error('disk on fire');
      }),
    ).rejects.toThrow('disk on fire');
    expect((await readFile(path)).toString()).toBe('old');
    expect(await tempLeftovers(dir)).toEqual([]);
  });
});
