/** Small helpers shared by the compiler tests. */
import type { Node } from '../compiler/ir.js';
import type { TypedGraph } from '../compiler/shapes.js';
import type { TargetInfo } from '../compiler/wgsl/kernel.js';
import { VggcError, type Diagnostic } from '../dsl/diagnostics.js';

/** Runs `fn`, expects a VggcError, returns its diagnostics. */
export function diagnosticsOf(fn: () => unknown): readonly Diagnostic[] {
  try {
    fn();
  } catch (e) {
    if (e instanceof VggcError) return e.diagnostics;
    throw e;
  }
  throw new Error('expected a VggcError, but nothing was thrown');
}

/** `line:col: message` of each diagnostic, for compact assertions. */
export function where(diags: readonly Diagnostic[]): string[] {
  return diags.map((d) => (d.span ? `${d.span.line}:${d.span.col}: ${d.message}` : d.message));
}

/**
 * max |gpu - ref| / max |ref| over a whole output: the error relative to the output's scale.
 * Throws on a non-finite GPU value where the reference is finite (an unwritten, NaN-poisoned
 * element), demands NaN exactly where the reference has NaN, and a reference that is not all
 * zeros (so that a comparison can fail).
 */
export function relativeError(y: ArrayLike<number>, ref: Float64Array, what = 'y'): number {
  if (y.length !== ref.length)
    throw new Error(`output holds ${y.length} values, the reference ${ref.length}`);
  let maxErr = 0;
  let maxRef = 0;
  for (let i = 0; i < ref.length; i++) {
    if (Number.isNaN(ref[i]!)) {
      if (!Number.isNaN(y[i]!)) throw new Error(`${what}[${i}] = ${y[i]}, expected NaN`);
      continue;
    }
    if (!Number.isFinite(y[i]!)) throw new Error(`${what}[${i}] = ${y[i]} (expected ${ref[i]})`);
    maxErr = Math.max(maxErr, Math.abs(y[i]! - ref[i]!));
    maxRef = Math.max(maxRef, Math.abs(ref[i]!));
  }
  if (!(maxRef > 0))
    throw new Error('the reference output is all zeros: the comparison could not fail');
  return maxErr / maxRef;
}

/** A plain adapter's limits (lavapipe-like, no subgroups), for compiling plans without a GPU. */
export const TEST_TARGET: TargetInfo = {
  maxStorageBufferBindingSize: 128 * 2 ** 20,
  maxComputeWorkgroupsPerDimension: 65535,
  maxComputeInvocationsPerWorkgroup: 256,
  maxComputeWorkgroupStorageSize: 16384,
  minStorageBufferOffsetAlignment: 256,
  subgroups: false,
  software: true,
};

/** A small VGG-style chain with every kind of layer a pass rewrites: conv, pool, FC, dropout. */
export const SMALL_NET = `model n { input 3x8x8
  conv3-4, maxpool
  FC-6, dropout 0.5
  FC-3, soft-max }`;

/**
 * `g` with one more node that reads `id` (as a training graph's backward nodes read forward
 * tensors): the must-not-fuse case of every fusion pass.
 */
export function addReader(g: TypedGraph, id: number): TypedGraph {
  const src = g.nodes.find((n) => n.id === id)!;
  const reader: Node & { out: typeof src.out } = {
    id: Math.max(...g.nodes.map((n) => n.id)) + 1,
    op: { op: 'relu' },
    inputs: [id],
    out: src.out,
  };
  return { ...g, nodes: [...g.nodes, reader] };
}
