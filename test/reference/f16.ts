/**
 * IEEE binary16 conversions for the f16 kernels' tests (Node 20 has no Float16Array): round to
 * nearest even, subnormals and infinities as the standard says.
 */

const f32 = new Float32Array(1);
const u32 = new Uint32Array(f32.buffer);

/** The f16 bit pattern nearest to `v` (ties to even). */
export function f16Bits(v: number): number {
  f32[0] = v;
  const x = u32[0]!;
  const sign = (x >>> 16) & 0x8000;
  const exp = (x >>> 23) & 0xff;
  let mant = x & 0x7fffff;
  if (exp === 0xff) return sign | 0x7c00 | (mant ? 0x200 : 0); // Inf, NaN
  let e = exp - 127 + 15;
  if (e >= 0x1f) return sign | 0x7c00; // overflow
  if (e <= 0) {
    if (e < -10) return sign; // underflows to zero
    mant |= 0x800000;
    const shift = 14 - e;
    const half = 1 << (shift - 1);
    const rest = mant & ((1 << shift) - 1);
    let m = mant >>> shift;
    if (rest > half || (rest === half && m & 1)) m++;
    return sign | m; // a carry into the exponent field gives the smallest normal, as it should
  }
  const rest = mant & 0x1fff;
  let m = mant >>> 13;
  if (rest > 0x1000 || (rest === 0x1000 && m & 1)) {
    m++;
    if (m === 0x400) {
      m = 0;
      e++;
      if (e >= 0x1f) return sign | 0x7c00;
    }
  }
  return sign | (e << 10) | m;
}

/** The value of an f16 bit pattern. */
export function f16Value(bits: number): number {
  const sign = bits & 0x8000 ? -1 : 1;
  const e = (bits >>> 10) & 0x1f;
  const m = bits & 0x3ff;
  if (e === 0) return sign * m * 2 ** -24;
  if (e === 0x1f) return m ? NaN : sign * Infinity;
  return sign * (1 + m / 1024) * 2 ** (e - 15);
}

/** `v` rounded to the nearest f16, as a number. */
export const toF16 = (v: number): number => f16Value(f16Bits(v));

/** Values packed two per 32-bit word, as a Float32Array the test harness uploads as is. */
export function packF16(values: ArrayLike<number>): Float32Array {
  const u16 = new Uint16Array(values.length + (values.length % 2));
  for (let i = 0; i < values.length; i++) u16[i] = f16Bits(values[i]!);
  return new Float32Array(u16.buffer);
}

/** `count` f16 NaNs (0x7e00), packed: an output buffer poisoned so that unwritten values fail. */
export function poisonF16(count: number): Float32Array {
  const u16 = new Uint16Array(count + (count % 2)).fill(0x7e00);
  return new Float32Array(u16.buffer);
}

/** The first `count` f16 values of a packed buffer read back from the GPU. */
export function unpackF16(packed: Float32Array, count: number): Float64Array {
  const u16 = new Uint16Array(packed.buffer, packed.byteOffset, count);
  return Float64Array.from(u16, f16Value);
}
