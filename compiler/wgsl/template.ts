/**
 * The scaffolding that the WGSL generators of compiler/wgsl/ share: argument checks, vector
 * width, lane and workgroup choice, dispatch grids, the subgroup builtins and the "subgroup too
 * small -> NaN" guard, zero-padding window masks, kernel names, and the whole elementwise
 * kernel. What each generator keeps to itself is its inner loop, written out by hand.
 *
 * Every generator has the signature `(spec, target, tuning?) => Kernel[]`: `spec` is what the
 * kernel computes, fusion flags included (relu, pool, mask, dropout); `target` what the adapter
 * allows (compiler/wgsl/kernel.ts); `tuning` optional tile sizes and design switches.
 */
import {
  f32Bytes,
  type Kernel,
  type KernelBinding,
  type KernelUniforms,
  type TargetInfo,
} from './kernel.js';

// ---------------------------------------------------------------------------------------------
// Text

/** `[0, 1, ..., n - 1]`, for unrolling over a register tile. */
export const range = (n: number): number[] => [...Array(n).keys()];

/** Joins generated lines, indenting each (and every line inside a multi-line entry) by `by`. */
export function indent(lines: string[], by: number): string {
  return lines.map((l) => l.replace(/^/gm, ' '.repeat(by))).join('\n');
}

/** Lines wrapped in a WGSL block `{ ... }`, indented by 2. */
export function scope(lines: string[]): string[] {
  return ['{', ...lines.map((l) => '  ' + l), '}'];
}

/** A WGSL f32 literal that round-trips the JavaScript number; `what` names it in the error. */
export function f32Literal(v: number, what: string): string {
  if (!Number.isFinite(v)) throw new Error(`${what}: parameter ${v} is not finite`);
  const s = String(v);
  return /[.eE]/.test(s) ? s : `${s}.0`;
}

/** `n what`, with an `s` unless n is 1. */
export const plural = (n: number, what: string): string => `${n} ${what}${n === 1 ? '' : 's'}`;

/** `i32(base) + d` written without a `+ 0` or a `+ -1`. */
export const plus = (base: string, d: number): string =>
  d === 0 ? base : `${base} ${d < 0 ? '-' : '+'} ${Math.abs(d)}`;

/** `base + d` always written with its sign, `+ 0` included. */
export const plusSigned = (base: string, d: number): string =>
  `${base} ${d < 0 ? '-' : '+'} ${Math.abs(d)}`;

// ---------------------------------------------------------------------------------------------
// Run-time sizes

/**
 * Sizes read at run time: the WGSL of `var<uniform> dims: Dims` at `binding` (each field a u32,
 * read as `dims.h`) and the values the runtime binds (Kernel.uniforms). A kernel that takes its
 * spatial size or batch this way compiles once for every size; one that keeps a size constant
 * lets the compiler fold it (measure which matters: docs/performance.md).
 */
export function uniformStruct(
  binding: number,
  fields: Readonly<Record<string, number>>,
): { wgsl: string; uniforms: KernelUniforms } {
  const names = Object.keys(fields);
  if (names.length === 0) throw new Error('internal: a uniform struct needs a field');
  for (const [k, v] of Object.entries(fields)) {
    if (!Number.isInteger(v) || v < 0 || v > 0xffffffff) {
      throw new Error(`internal: uniform '${k}' = ${v} is not a u32`);
    }
  }
  const wgsl = [
    'struct Dims {',
    ...names.map((n) => `  ${n}: u32,`),
    '}',
    `@group(0) @binding(${binding}) var<uniform> dims: Dims;`,
  ].join('\n');
  return { wgsl, uniforms: { binding, fields: names, values: names.map((n) => fields[n]!) } };
}

// ---------------------------------------------------------------------------------------------
// Arithmetic and checks

export function gcd(a: number, b: number): number {
  while (b !== 0) [a, b] = [b, a % b];
  return a;
}

export const lcm = (a: number, b: number): number => (a * b) / gcd(a, b);

/** Throws `what: key must be a positive integer` for the first field that is not one. */
export function requirePositiveIntegers(what: string, fields: Record<string, number>): void {
  for (const [k, v] of Object.entries(fields)) {
    if (!Number.isInteger(v) || v < 1) throw new Error(`${what}: ${k} must be a positive integer`);
  }
}

// ---------------------------------------------------------------------------------------------
// Names

/** `_part2of3` for a kernel that handles one chunk of several, else nothing. */
export const partSuffix = (index: number, count: number): string =>
  count > 1 ? `_part${index}of${count}` : '';

/**
 * A kernel's name without its batch tag `_n<n>`: the title for the header of code that reads the
 * batch at run time (such code must not change with the batch; the name may).
 */
export const batchFree = (name: string, n: number): string => name.replace(`_n${n}`, '');

/** A number as part of a kernel name: `0.5` -> `0_5`. */
export const nameTag = (v: number): string => String(v).replace('.', '_');

// ---------------------------------------------------------------------------------------------
// Vectors, lanes, workgroups, grids

/** vec4 loads and stores when `count` floats split into whole vec4s, scalars otherwise. */
export function vectorOf(count: number): { V: 1 | 4; T: 'vec4<f32>' | 'f32' } {
  return count % 4 === 0 ? { V: 4, T: 'vec4<f32>' } : { V: 1, T: 'f32' };
}

/** Whether a kernel uses subgroup built-ins: the target has them and the tuning allows them. */
export const useSubgroups = (
  target: TargetInfo,
  tuning: { readonly subgroups?: boolean },
): boolean => target.subgroups && (tuning.subgroups ?? true);

/**
 * Lanes of each subgroup that load an operand that all lanes share (broadcast from constant lanes
 * 0..lanes-1): 8 when the target states a smallest subgroup of 8 or more, 4 when it states less,
 * else 8 on a software adapter (lavapipe: 8) and 4, WebGPU's minimum subgroup size, elsewhere.
 */
export function defaultLanes(target: TargetInfo): 4 | 8 {
  if (target.subgroupMinSize !== undefined) return target.subgroupMinSize >= 8 ? 8 : 4;
  return target.software ? 8 : 4;
}

/**
 * Invocations per workgroup for `items` parallel tiles, a multiple of 8 so that a subgroup of 8
 * or more has its first 8 lanes. On a GPU: 64, or fewer when there are fewer tiles. On lavapipe
 * (subgroups of 8, one workgroup at a time per thread, so small workgroups cost little): 8 x s
 * invocations, s <= 8 chosen to leave the fewest subgroups idle in the last workgroup (28 x 28:
 * 13 subgroups of tiles, so s = 1 instead of 64 invocations with 30 idle: +22%).
 */
export function tileWorkgroupSize(items: number, software: boolean): number {
  const subgroups = Math.ceil(items / 8);
  if (!software) return Math.min(64, subgroups * 8);
  let best = 1;
  for (let s = 2; s <= 8; s++) {
    const idle = (n: number): number => Math.ceil(subgroups / n) * n - subgroups;
    if (idle(s) <= idle(best)) best = s;
  }
  return 8 * best;
}

/**
 * A power of two for a tree reduction over `items` values: at most 64, no wider than the items
 * need, within the target's limit.
 */
export function treeWorkgroupSize(items: number, target: TargetInfo): number {
  let wg = 1;
  while (wg < Math.min(64, items, target.maxComputeInvocationsPerWorkgroup)) wg *= 2;
  if (wg > target.maxComputeInvocationsPerWorkgroup) wg /= 2;
  return wg;
}

/**
 * Splits a 1-D workgroup count into a 2-D grid whose sides respect the per-dimension limit
 * (`maxComputeWorkgroupsPerDimension`); kernels recover the linear index as `y * gx + x`.
 * `what` names the kernel in the error when even that is too large.
 */
export function foldGrid(count: number, maxPerDim: number, what = 'internal'): [number, number] {
  if (count <= maxPerDim) return [count, 1];
  const gy = Math.ceil(count / maxPerDim);
  const gx = Math.ceil(count / gy);
  if (gy > maxPerDim) throw new Error(`${what}: grid of ${count} workgroups is too large`);
  return [gx, gy];
}

/**
 * A grid of `groups` workgroups along x and z (kernels recover the index as `z * gx + x`) and
 * `y` along y (a block of channels); `tooMany` is the error when y exceeds the limit.
 */
export function gridXZ(
  groups: number,
  y: number,
  target: TargetInfo,
  tooMany: string,
): [number, number, number] {
  const maxDim = target.maxComputeWorkgroupsPerDimension;
  if (y > maxDim) throw new Error(tooMany);
  const gz = Math.ceil(groups / maxDim);
  return [Math.ceil(groups / gz), y, gz];
}

/** The grid of `invocations` invocations in workgroups of `wg`, folded into 2-D (`foldGrid`). */
export const invocationGrid = (
  invocations: number,
  wg: number,
  target: TargetInfo,
): [number, number] =>
  foldGrid(Math.ceil(invocations / wg), target.maxComputeWorkgroupsPerDimension);

/**
 * `@compute` and the head of `main` for a kernel of one item per invocation, the grid folded
 * into 2-D (GX workgroups per row, a WGSL constant): `i` is the item, INVOCATIONS its bound.
 * `sizes` names other WGSL expressions for the two, e.g. `dims.gx` and `dims.invocations` of a
 * kernel that reads them at run time (`uniformStruct`).
 */
export const invocationMain = (
  wg: number,
  sizes: { readonly gx: string; readonly invocations: string } = {
    gx: 'GX',
    invocations: 'INVOCATIONS',
  },
): string => `@compute @workgroup_size(${wg})
fn main(@builtin(global_invocation_id) gid: vec3<u32>) {
  let i = gid.x + gid.y * (${sizes.gx} * ${wg}u);
  if (i >= ${sizes.invocations}) { return; }`;

/**
 * `invocationMain` with the sizes read at run time: the grid's row length from the dispatch
 * (`num_workgroups`), the bound from `dims.invocations` (a `uniformStruct` field), so the code
 * is the same for every batch.
 */
export const invocationMainDims = (wg: number): string => `@compute @workgroup_size(${wg})
fn main(
  @builtin(global_invocation_id) gid: vec3<u32>,
  @builtin(num_workgroups) nwg: vec3<u32>,
) {
  let i = gid.x + gid.y * (nwg.x * ${wg}u);
  if (i >= dims.invocations) { return; }`;

// ---------------------------------------------------------------------------------------------
// Subgroups

/** `enable subgroups;` and a blank line when the kernel uses them. */
export const enableSubgroups = (sg: boolean): string => (sg ? 'enable subgroups;\n' : '');

/** The LANES constant of a kernel that broadcasts `what` from lanes 0..lanes-1. */
export const lanesConst = (sg: boolean, lanes: number, what: string): string =>
  sg ? `\nconst LANES: u32 = ${lanes}u;            // lanes that load ${what}` : '';

/**
 * `@compute` and the head of `main` for a kernel indexed by workgroup and local index, with
 * the subgroup lane id (`sid`) and, for kernels that check it, the subgroup size (`sgsize`).
 */
export function workgroupMain(wg: number, sg: boolean, size: boolean): string {
  const builtins = sg
    ? `\n  @builtin(subgroup_invocation_id) sid: u32,${size ? '\n  @builtin(subgroup_size) sgsize: u32,' : ''}`
    : '';
  return `@compute @workgroup_size(${wg})
fn main(
  @builtin(workgroup_id) wid: vec3<u32>,
  @builtin(local_invocation_index) lid: u32,${builtins}
) {`;
}

/**
 * `workgroupMain` with the dispatch's size as well (`nwg`, from `num_workgroups`), for kernels
 * whose grid depends on a run-time size (the batch): they fold the grid with `nwg.x` instead of
 * a WGSL constant.
 */
export const workgroupMainGrid = (wg: number, sg: boolean, size = false): string =>
  workgroupMain(wg, sg, size).replace(
    /\n\) \{$/,
    '\n  @builtin(num_workgroups) nwg: vec3<u32>,\n) {',
  );

/** Header text: how the lanes get the `block` weights of a channel (one shared operand). */
export const sharedWeightsNote = (
  sg: boolean,
  lanes: number,
  regs: number,
  block: number,
): string =>
  sg
    ? `each lane of a group of ${lanes} loads ${regs} of the channel's ${block}, shared by subgroupBroadcast from lanes 0..${lanes - 1};\n//   needs subgroup size >= ${lanes} (checked: writes NaN otherwise)`
    : `every lane loads the channel's ${block} itself (no subgroups)`;

/** A quiet NaN that the compiler cannot fold away (it depends on the subgroup size). */
export const SUBGROUP_NAN = 'bitcast<f32>(0x7fc00000u + min(sgsize, 0u))';

/** The comment above a subgroup size check; `lanes` as written in the kernel. */
export const subgroupGuardComment = (lanes: string): string =>
  `// A subgroup smaller than ${lanes} would have broadcast from missing lanes: fail loudly.`;

/**
 * Defines `ok` (this invocation stores: `live`, and with subgroups `sgsize >= LANES`). With
 * subgroups, a live invocation in a subgroup smaller than LANES has broadcast from missing
 * lanes, so it runs `poison` (with `nan` in scope) to write NaN over its outputs: a misuse fails
 * loudly instead of storing wrong numbers. Correctness never depends on the subgroup size.
 */
export function subgroupGuard(sg: boolean, live: string, poison: string[]): string {
  if (!sg) return `  let ok = ${live};`;
  return `  ${subgroupGuardComment('LANES')}
  let ok = ${live} && sgsize >= LANES;
  if (${live} && sgsize < LANES) {
    let nan = ${SUBGROUP_NAN};
${indent(poison, 4)}
  }`;
}

// ---------------------------------------------------------------------------------------------
// Zero padding

/**
 * Row and column masks of an input window around a tile at (`row`, `col`) padded by `pad`:
 * window row r is image row `row + r - pad` (`iy<r>`, inside when `rok<r>`), window column j is
 * `col + j - pad` (`ix<j>`, `cok<j>`). Loads outside the image are masked to zero with them.
 */
export function windowMasks(
  rows: number,
  cols: number,
  pad: number,
  at: { row: string; col: string },
  offset: (base: string, d: number) => string,
): string[] {
  return [
    ...range(rows).flatMap((r) => [
      `let iy${r} = ${offset(`i32(${at.row})`, r - pad)};`,
      `let rok${r} = iy${r} >= 0 && iy${r} < i32(H);`,
    ]),
    ...range(cols).flatMap((j) => [
      `let ix${j} = ${offset(`i32(${at.col})`, j - pad)};`,
      `let cok${j} = ix${j} >= 0 && ix${j} < i32(W);`,
    ]),
  ];
}

// ---------------------------------------------------------------------------------------------
// Elementwise kernels

/** Invocations per workgroup of an elementwise kernel. */
const ELEMENTWISE_WG = 256;

/** A storage binding of an elementwise kernel; `type` defaults to `array<T>`. */
export interface ElementwiseBinding {
  readonly tensor: string;
  readonly access: KernelBinding['access'];
  readonly type?: string;
  /** Byte range bound (a chunk of the tensor); the whole tensor when absent. */
  readonly range?: { readonly offsetBytes: number; readonly sizeBytes: number };
}

export interface ElementwiseParts {
  readonly name: string;
  /**
   * Header comment lines, the first `// <title>: what it computes`; nothing that varies with the
   * count (it is read at run time, so one pipeline serves every count).
   */
  readonly header: string;
  readonly bindings: readonly ElementwiseBinding[];
  /** Module-scope declarations (functions, constants) after the bindings. */
  readonly decls?: string;
  /** Statements of `main` for item `i` (one T of every array binding), unindented. */
  readonly body: readonly string[];
  readonly flops: number;
  readonly bytes: number;
}

/**
 * An elementwise kernel over `floats` floats: one vec4 per invocation when they split into whole
 * vec4s (else one float), the grid folded into 2-D. `parts` receives the element type T and the
 * number of items (invocations that do work). The item count and the grid's row length are read
 * at run time (`dims.items`, `num_workgroups`), so the code is the same for every count (every
 * batch) with the same T: keep the count out of the header (the name may carry it).
 */
export function elementwiseKernel(
  floats: number,
  target: TargetInfo,
  parts: (t: { T: string; items: number }) => ElementwiseParts,
): Kernel {
  const WG = ELEMENTWISE_WG;
  const { V, T } = vectorOf(floats);
  const items = floats / V;
  const [gx, gy] = foldGrid(Math.ceil(items / WG), target.maxComputeWorkgroupsPerDimension);
  const p = parts({ T, items });
  const decls = p.bindings.map(
    (b, i) =>
      `@group(0) @binding(${i}) var<storage, ${b.access}> ${b.tensor}: ${b.type ?? `array<${T}>`};`,
  );
  const dims = uniformStruct(p.bindings.length, { items });
  const code = `${p.header}
//   Workgroup size ${WG}, one ${T} per invocation; the item count is read at run time (dims.items).

${dims.wgsl}
${decls.join('\n')}
${p.decls ? `\n${p.decls}\n` : ''}
@compute @workgroup_size(${WG})
fn main(
  @builtin(global_invocation_id) gid: vec3<u32>,
  @builtin(num_workgroups) nwg: vec3<u32>,
) {
  let i = gid.x + gid.y * (nwg.x * ${WG}u);
  if (i >= dims.items) { return; }
${indent([...p.body], 2)}
}
`;
  return {
    name: p.name,
    code,
    entryPoint: 'main',
    workgroupSize: [WG, 1, 1],
    dispatch: [gx, gy, 1],
    bindings: p.bindings.map((b, i) => ({
      binding: i,
      tensor: b.tensor,
      access: b.access,
      ...b.range,
    })),
    flops: p.flops,
    bytes: p.bytes,
    uniforms: dims.uniforms,
  };
}

/** Throws unless `floats` floats fit one storage binding of the target. */
export function requireBindingFits(what: string, floats: number, target: TargetInfo): void {
  if (f32Bytes(floats) > target.maxStorageBufferBindingSize) {
    throw new Error(`${what}: ${f32Bytes(floats)} bytes exceed maxStorageBufferBindingSize`);
  }
}
