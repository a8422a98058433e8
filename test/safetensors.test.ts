import { mkdtemp, open, readFile, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { VggcError } from '../dsl/diagnostics.js';
import {
  SafetensorsFile,
  readSafetensors,
  writeSafetensors,
  type Tensor,
} from '../runtime/safetensors.js';

let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'vggc-st-'));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

/** A safetensors file from a header given as text (or an object) and a data buffer. */
function stBytes(header: string | object, data: Uint8Array = new Uint8Array(0)): Uint8Array {
  const json = new TextEncoder().encode(
    typeof header === 'string' ? header : JSON.stringify(header),
  );
  const out = new Uint8Array(8 + json.length + data.length);
  new DataView(out.buffer).setBigUint64(0, BigInt(json.length), true);
  out.set(json, 8);
  out.set(data, 8 + json.length);
  return out;
}

const u16s = (values: number[]): Uint8Array => {
  const out = new Uint8Array(values.length * 2);
  const dv = new DataView(out.buffer);
  values.forEach((v, i) => dv.setUint16(2 * i, v, true));
  return out;
};
const f32s = (values: number[]): Uint8Array => {
  const out = new Uint8Array(values.length * 4);
  const dv = new DataView(out.buffer);
  values.forEach((v, i) => dv.setFloat32(4 * i, v, true));
  return out;
};
const f64s = (values: number[]): Uint8Array => {
  const out = new Uint8Array(values.length * 8);
  const dv = new DataView(out.buffer);
  values.forEach((v, i) => dv.setFloat64(8 * i, v, true));
  return out;
};
const concat = (...parts: Uint8Array[]): Uint8Array => {
  const out = new Uint8Array(parts.reduce((a, p) => a + p.length, 0));
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
};

async function fixture(name: string, bytes: Uint8Array): Promise<string> {
  const path = join(dir, name);
  await writeFile(path, bytes);
  return path;
}

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

/** The error message of opening a file with this header and data. */
async function openFailure(name: string, header: string | object, data?: Uint8Array) {
  const path = await fixture(name, stBytes(header, data));
  return { path, msg: await failure(SafetensorsFile.open(path)) };
}

const tempLeftovers = async (): Promise<string[]> =>
  (await readdir(dir)).filter((f) => f.endsWith('.tmp'));

describe('reading hand-made safetensors files', () => {
  it('widens F16 and BF16 and narrows F64 to float32', async () => {
    // F16: 0x3C00 = 1, 0xC000 = -2, 0x7BFF = 65504, 0x0001 = 2^-24, 0x7C00 = inf, 0x3555 ~ 1/3
    const f16 = u16s([0x3c00, 0xc000, 0x7bff, 0x0001, 0x7c00, 0x3555]);
    // BF16: 0x3F80 = 1, 0xC040 = -3, 0x4049 = 3.140625, 0x0000 = 0
    const bf16 = u16s([0x3f80, 0xc040, 0x4049, 0x0000]);
    const f32 = f32s([0.5, -7.25]);
    const f64 = f64s([1.5, -0.1]);
    const header = {
      __metadata__: { format: 'pt', note: 'hand made' },
      half: { dtype: 'F16', shape: [2, 3], data_offsets: [0, 12] },
      brain: { dtype: 'BF16', shape: [4], data_offsets: [12, 20] },
      single: { dtype: 'F32', shape: [2, 1], data_offsets: [20, 28] },
      double: { dtype: 'F64', shape: [2], data_offsets: [28, 44] },
    };
    const path = await fixture('hand.safetensors', stBytes(header, concat(f16, bf16, f32, f64)));
    const { tensors, metadata } = await readSafetensors(path);
    expect(metadata).toEqual({ format: 'pt', note: 'hand made' });
    expect([...tensors.keys()]).toEqual(['half', 'brain', 'single', 'double']);
    expect(tensors.get('half')).toEqual({
      shape: [2, 3],
      data: new Float32Array([1, -2, 65504, 2 ** -24, Infinity, 0.333251953125]),
    });
    expect(tensors.get('brain')).toEqual({
      shape: [4],
      data: new Float32Array([1, -3, 3.140625, 0]),
    });
    expect(tensors.get('single')).toEqual({ shape: [2, 1], data: new Float32Array([0.5, -7.25]) });
    expect(tensors.get('double')!.data).toEqual(new Float32Array([1.5, Math.fround(-0.1)]));
  });

  it('accepts a header padded with spaces, scalars and empty tensors', async () => {
    const header = JSON.stringify({
      s: { dtype: 'F32', shape: [], data_offsets: [0, 4] },
      e: { dtype: 'F32', shape: [0, 3], data_offsets: [4, 4] },
    });
    const path = await fixture('pad.safetensors', stBytes(header + '      ', f32s([2.5])));
    const { tensors, metadata } = await readSafetensors(path);
    expect(metadata).toEqual({});
    expect(tensors.get('s')).toEqual({ shape: [], data: new Float32Array([2.5]) });
    expect(tensors.get('e')).toEqual({ shape: [0, 3], data: new Float32Array(0) });
  });

  it('opens a file with tensors it cannot read, and refuses only those', async () => {
    const header = {
      step: { dtype: 'I64', shape: [1], data_offsets: [0, 8] },
      w: { dtype: 'F32', shape: [1], data_offsets: [8, 12] },
      future: { dtype: 'F4', shape: [2], data_offsets: [12, 13] },
    };
    const path = await fixture(
      'mixed.safetensors',
      stBytes(header, concat(new Uint8Array(8), f32s([3]), new Uint8Array(1))),
    );
    const f = await SafetensorsFile.open(path);
    try {
      expect(await f.read('w')).toEqual(new Float32Array([3]));
      expect(await failure(f.read('step'))).toBe(
        `${path}: tensor 'step' has dtype I64; vggc reads F32, F16, BF16, F64`,
      );
      expect(await failure(f.read('future'))).toMatch(/tensor 'future' has dtype F4/);
      expect(await failure(f.read('nope'))).toBe(`${path}: no tensor 'nope'`);
    } finally {
      await f.close();
    }
    expect(await failure(readSafetensors(path))).toMatch(/tensor 'step' has dtype I64/);
  });

  it('reads large F16 tensors in chunks', async () => {
    const n = (1 << 23) + 5; // more than one 16 MiB conversion chunk
    const bits = new Uint16Array(n);
    for (let i = 0; i < n; i++) bits[i] = i % 0x7c00; // finite positive halves
    const header = { big: { dtype: 'F16', shape: [n], data_offsets: [0, 2 * n] } };
    const path = await fixture('bigf16.safetensors', stBytes(header, new Uint8Array(bits.buffer)));
    const f = await SafetensorsFile.open(path);
    const data = await f.read('big');
    await f.close();
    expect(data.length).toBe(n);
    for (const i of [0, 1, 1023, 1024, 0x7bff, n - 1]) {
      const h = i % 0x7c00;
      const e = (h >> 10) & 0x1f;
      const m = h & 0x3ff;
      expect(data[i]).toBe(e === 0 ? m * 2 ** -24 : (1 + m / 1024) * 2 ** (e - 15));
    }
  });

  it.runIf(process.platform === 'linux')(
    'reads a tensor that lies beyond 4 GiB in a (sparse) multi-GB file',
    async () => {
      const huge = 1_200_000_001; // F32 values: 4.8 GB that are never read
      const header = {
        a_huge: { dtype: 'F32', shape: [huge], data_offsets: [0, 4 * huge] },
        z_tail: { dtype: 'F32', shape: [3], data_offsets: [4 * huge, 4 * huge + 12] },
      };
      const head = stBytes(header);
      const path = join(dir, 'sparse.safetensors');
      const fh = await open(path, 'w');
      try {
        await fh.write(head, 0, head.length, 0);
        await fh.write(f32s([1, -2, 3.5]), 0, 12, head.length + 4 * huge);
      } finally {
        await fh.close();
      }
      const f = await SafetensorsFile.open(path);
      try {
        expect(f.entries.get('a_huge')!.end).toBe(4 * huge);
        expect(await f.read('z_tail')).toEqual(new Float32Array([1, -2, 3.5]));
      } finally {
        await f.close();
        await rm(path);
      }
    },
  );
});

describe('safetensors errors name the file and the tensor', () => {
  const w = (begin: number, end: number, shape = [(end - begin) / 4]) => ({
    dtype: 'F32',
    shape,
    data_offsets: [begin, end],
  });

  it('a file shorter than 8 bytes, a missing file', async () => {
    const path = await fixture('tiny.safetensors', new Uint8Array(5));
    expect(await failure(SafetensorsFile.open(path))).toBe(
      `${path}: not a safetensors file (5 bytes, shorter than the 8-byte header length)`,
    );
    const missing = join(dir, 'missing.safetensors');
    expect(await failure(SafetensorsFile.open(missing))).toBe(
      `${missing}: cannot read: no such file or directory`,
    );
  });

  it('a header length beyond the file size', async () => {
    const bytes = stBytes({ a: w(0, 4) }, f32s([1]));
    new DataView(bytes.buffer).setBigUint64(0, 1n << 40n, true);
    const path = await fixture('hugeheader.safetensors', bytes);
    expect(await failure(SafetensorsFile.open(path))).toBe(
      `${path}: not a safetensors file: header length 1099511627776 exceeds the file size (${bytes.length} bytes)`,
    );
    new DataView(bytes.buffer).setBigUint64(0, 0xffffffffffffffffn, true);
    await writeFile(path, bytes);
    expect(await failure(SafetensorsFile.open(path))).toMatch(
      /header length 18446744073709551615 exceeds/,
    );
  });

  it('a header that is not JSON, not UTF-8, or not an object', async () => {
    let r = await openFailure('notjson.safetensors', '{"a": {"dtype": "F32",');
    expect(r.msg).toMatch(
      /^.*notjson\.safetensors: not a safetensors file: the header is not valid JSON \(.+\)$/,
    );
    r = await openFailure('png.safetensors', '\x89PNG');
    expect(r.msg).toBe(`${r.path}: not a safetensors file: the header is not a JSON object`);
    const path = await fixture('utf8.safetensors', stBytes('{"a":1}'.replace('1', '"\xff"')));
    const raw = await readFile(path);
    raw[raw.indexOf(0xc3)] = 0xff; // break the UTF-8 encoding of \xff
    await writeFile(path, raw);
    expect(await failure(SafetensorsFile.open(path))).toBe(
      `${path}: not a safetensors file: the header is not UTF-8 text`,
    );
    r = await openFailure('array.safetensors', '[1, 2]');
    expect(r.msg).toBe(`${r.path}: not a safetensors file: the header is not a JSON object`);
  });

  it('malformed entries', async () => {
    const cases: [object, string][] = [
      [{ a: 5 }, "tensor 'a': header entry is not an object"],
      [{ a: { shape: [1], data_offsets: [0, 4] } }, "tensor 'a': dtype is not a string"],
      [
        { a: { dtype: 'F32', data_offsets: [0, 4] } },
        "tensor 'a': shape is not a list of integers",
      ],
      [
        { a: { dtype: 'F32', shape: [2, -2], data_offsets: [0, 4] } },
        "tensor 'a': shape [2,-2] has a negative or non-integer dimension",
      ],
      [
        { a: { dtype: 'F32', shape: [1.5], data_offsets: [0, 4] } },
        "tensor 'a': shape [1.5] has a negative or non-integer dimension",
      ],
      [
        { a: { dtype: 'F32', shape: [1], data_offsets: [4, 0] } },
        "tensor 'a': data_offsets [4,0] are not [begin, end] with 0 <= begin <= end",
      ],
      [
        { a: { dtype: 'F32', shape: [1], data_offsets: [0] } },
        "tensor 'a': data_offsets [0] are not [begin, end] with 0 <= begin <= end",
      ],
      [
        { a: { dtype: 'F32', shape: [2, 3], data_offsets: [0, 4] } },
        "tensor 'a': data_offsets [0,4] hold 4 bytes, but F32 [2,3] needs 24",
      ],
      [{ __metadata__: { n: 3 }, a: w(0, 4) }, '__metadata__ must map strings to strings'],
    ];
    for (const [header, why] of cases) {
      const r = await openFailure('entry.safetensors', header, f32s([1]));
      expect(r.msg).toBe(`${r.path}: ${why}`);
    }
  });

  it('data_offsets beyond the file (truncated)', async () => {
    const r = await openFailure('trunc.safetensors', { a: w(0, 8), b: w(8, 24) }, f32s([1, 2, 3]));
    expect(r.msg).toBe(
      `${r.path}: truncated: tensor 'b' needs bytes [8,24) of the data, the file holds 12`,
    );
  });

  it('overlapping tensors, holes, and bytes after the last tensor', async () => {
    let r = await openFailure('overlap.safetensors', { a: w(0, 8), b: w(4, 12) }, f32s([1, 2, 3]));
    expect(r.msg).toBe(`${r.path}: tensor 'b' data_offsets [4,12] overlap tensor 'a' [0,8]`);
    r = await openFailure('same.safetensors', { a: w(0, 8), b: w(0, 8) }, f32s([1, 2]));
    expect(r.msg).toMatch(/tensor '[ab]' data_offsets \[0,8\] overlap tensor '[ab]' \[0,8\]$/);
    r = await openFailure('hole.safetensors', { a: w(0, 4), b: w(8, 12) }, f32s([1, 2, 3]));
    expect(r.msg).toBe(`${r.path}: 4 bytes before tensor 'b' belong to no tensor`);
    r = await openFailure('tail.safetensors', { a: w(0, 4) }, f32s([1, 2]));
    expect(r.msg).toBe(`${r.path}: 4 bytes after the last tensor belong to no tensor`);
  });
});

describe('writing safetensors', () => {
  const t = (shape: number[], values?: number[]): Tensor => ({
    shape,
    data: values
      ? new Float32Array(values)
      : new Float32Array(shape.reduce((a, d) => a * d, 1)).map((_, i) => Math.cos(i) * (i + 1)),
  });

  it('round-trips tensors and metadata', async () => {
    const tensors = new Map<string, Tensor>([
      ['features.0.weight', t([4, 3, 3, 3])],
      ['features.0.bias', t([4])],
      ['classifier.0.weight', t([10, 36])],
      ['0', t([2])],
      ['scalar', t([], [42])],
      ['empty', t([0, 7])],
      ['ünïcode ✓', t([1], [1e-30])],
    ]);
    const path = join(dir, 'rt.safetensors');
    await writeSafetensors(path, tensors, { format: 'pt', who: 'vggc' });
    const back = await readSafetensors(path);
    expect(back.metadata).toEqual({ format: 'pt', who: 'vggc' });
    expect(back.tensors.size).toBe(tensors.size);
    for (const [name, want] of tensors) expect(back.tensors.get(name), name).toEqual(want);
    expect(await tempLeftovers()).toEqual([]);
  });

  it('writes the layout the format and the reference library use', async () => {
    const path = join(dir, 'layout.safetensors');
    await writeSafetensors(
      path,
      [
        ['features.2.weight', t([2])],
        ['10', t([1])],
        ['features.10.weight', t([3])],
        ['classifier.0.bias', t([1])],
      ],
      { format: 'pt' },
    );
    const bytes = await readFile(path);
    const n = Number(bytes.readBigUInt64LE(0));
    expect(n % 8).toBe(0);
    const text = bytes.subarray(8, 8 + n).toString('utf8');
    expect(text).toMatch(/^\{"__metadata__":\{"format":"pt"\},"10":/);
    expect(text.trimEnd().length).toBeGreaterThan(n - 8);
    const header = JSON.parse(text) as Record<string, { data_offsets: [number, number] }>;
    // Sorted by name (byte order), contiguous from 0.
    const order = Object.keys(header).filter((k) => k !== '__metadata__');
    expect(order.sort()).toEqual([
      '10',
      'classifier.0.bias',
      'features.10.weight',
      'features.2.weight',
    ]);
    const offsets = ['10', 'classifier.0.bias', 'features.10.weight', 'features.2.weight'].map(
      (k) => header[k]!.data_offsets,
    );
    expect(offsets).toEqual([
      [0, 4],
      [4, 8],
      [8, 20],
      [20, 28],
    ]);
    expect(bytes.length).toBe(8 + n + 28);
    expect(
      Array.from(
        new Float32Array(
          bytes.buffer.slice(bytes.byteOffset + 8 + n + 8, bytes.byteOffset + 8 + n + 20),
        ),
      ),
    ).toEqual(Array.from(t([3]).data));
  });

  it('the same tensors give the same bytes whatever their order', async () => {
    const a = t([5, 2]);
    const b = t([3]);
    const p1 = join(dir, 'o1.safetensors');
    const p2 = join(dir, 'o2.safetensors');
    await writeSafetensors(p1, [
      ['a', a],
      ['b', b],
    ]);
    await writeSafetensors(p2, [
      ['b', b],
      ['a', a],
    ]);
    expect(await readFile(p1)).toEqual(await readFile(p2));
    expect((await readFile(p1)).subarray(8, 16).toString()).toBe('{"a":{"d');
  });

  it('invalid input writes nothing and keeps an existing file', async () => {
    const path = join(dir, 'keep.safetensors');
    await writeSafetensors(path, new Map([['a', t([2])]]));
    const before = await readFile(path);
    expect(
      await failure(
        writeSafetensors(
          path,
          new Map([
            ['a', t([2])],
            ['b', { shape: [2, 3], data: new Float32Array(5) }],
          ]),
        ),
      ),
    ).toBe(`${path}: cannot write tensor 'b': shape [2,3] holds 6 values, the data has 5`);
    expect(
      await failure(writeSafetensors(path, [['x', { shape: [-1], data: new Float32Array(0) }]])),
    ).toBe(`${path}: cannot write tensor 'x': bad shape [-1]`);
    expect(await failure(writeSafetensors(path, [['__metadata__', t([1])]]))).toBe(
      `${path}: cannot write: '__metadata__' is not a tensor name`,
    );
    expect(
      await failure(
        writeSafetensors(path, [
          ['a', t([1])],
          ['a', t([1])],
        ]),
      ),
    ).toBe(`${path}: cannot write: two tensors named 'a'`);
    expect(await readFile(path)).toEqual(before);
    const fresh = join(dir, 'never.safetensors');
    await failure(writeSafetensors(fresh, [['b', { shape: [3], data: new Float32Array(2) }]]));
    expect((await readdir(dir)).includes('never.safetensors')).toBe(false);
    expect(await tempLeftovers()).toEqual([]);
  });

  it('an I/O failure names the file and leaves nothing behind', async () => {
    const path = join(dir, 'nodir', 'w.safetensors');
    expect(await failure(writeSafetensors(path, [['a', t([1])]]))).toBe(
      `${path}: cannot write: no such file or directory`,
    );
    expect(await tempLeftovers()).toEqual([]);
  });
});
