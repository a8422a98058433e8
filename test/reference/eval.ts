/**
 * Float64 CPU reference of the paper's test-time evaluation (runtime/eval.ts), written from the
 * paper's description: rescale so the smallest side is Q (bilinear, half-pixel centres, edges
 * clamped), subtract the mean, run the dense network (networkRef on the FC-to-conv graph),
 * average the score map over space, soft-max; average flips, crops, methods and scales.
 */
import type { TypedGraph } from '../../compiler/shapes.js';
import { denseGraph } from '../../compiler/passes/fc-to-conv.js';
import { networkRef } from './network.js';

export type Chw = readonly [number, number, number];

/** The size with smallest side q, the other side scaled and rounded to the nearest integer. */
export function smallestSide(h: number, w: number, q: number): [number, number] {
  return h <= w ? [q, Math.round((w * q) / h)] : [Math.round((h * q) / w), q];
}

/** Bilinear resize of a CHW image with half-pixel centres (align_corners = false). */
export function resize64(src: ArrayLike<number>, [c, h, w]: Chw, oh: number, ow: number) {
  const out = new Float64Array(c * oh * ow);
  const coord = (o: number, n: number, size: number) =>
    Math.min(Math.max(((o + 0.5) * n) / size - 0.5, 0), n - 1);
  for (let ch = 0; ch < c; ch++) {
    for (let y = 0; y < oh; y++) {
      const sy = coord(y, h, oh);
      const y0 = Math.floor(sy);
      const y1 = Math.min(y0 + 1, h - 1);
      const fy = sy - y0;
      for (let x = 0; x < ow; x++) {
        const sx = coord(x, w, ow);
        const x0 = Math.floor(sx);
        const x1 = Math.min(x0 + 1, w - 1);
        const fx = sx - x0;
        const at = (yy: number, xx: number) => src[(ch * h + yy) * w + xx]!;
        out[(ch * oh + y) * ow + x] =
          (1 - fy) * ((1 - fx) * at(y0, x0) + fx * at(y0, x1)) +
          fy * ((1 - fx) * at(y1, x0) + fx * at(y1, x1));
      }
    }
  }
  return out;
}

/** Mirror left-right. */
export function flip64(src: ArrayLike<number>, [c, h, w]: Chw): Float64Array {
  const out = new Float64Array(c * h * w);
  for (let i = 0; i < c * h; i++)
    for (let x = 0; x < w; x++) out[i * w + x] = src[i * w + (w - 1 - x)]!;
  return out;
}

export function crop64(
  src: ArrayLike<number>,
  [c, h, w]: Chw,
  top: number,
  left: number,
  ch: number,
  cw: number,
): Float64Array {
  const out = new Float64Array(c * ch * cw);
  for (let k = 0; k < c; k++)
    for (let y = 0; y < ch; y++)
      for (let x = 0; x < cw; x++)
        out[(k * ch + y) * cw + x] = src[(k * h + top + y) * w + left + x]!;
  return out;
}

export function subtractMean(img: Float64Array, mean: readonly number[], plane: number) {
  return img.map((v, i) => v - mean[Math.floor(i / plane)]!);
}

export function softmax64(v: readonly number[]): number[] {
  const m = Math.max(...v);
  const e = v.map((x) => Math.exp(x - m));
  const s = e.reduce((a, b) => a + b, 0);
  return e.map((x) => x / s);
}

/** Soft-max of the spatially averaged score map of one preprocessed image of `size`. */
export function densePosterior(
  graph: TypedGraph,
  weights: ReadonlyMap<string, Float32Array>,
  img: Float64Array,
  size: Chw,
): number[] {
  const g = denseGraph(graph, size);
  const [classes, oh, ow] = g.nodes.at(-1)!.out;
  const map = networkRef(g, weights, Float32Array.from(img), 1);
  const means = Array.from({ length: classes }, (_, c) => {
    let s = 0;
    for (let p = 0; p < oh * ow; p++) s += map[c * oh * ow + p]!;
    return s / (oh * ow);
  });
  return softmax64(means);
}

export const mean64 = (rows: readonly number[][]): number[] =>
  rows[0]!.map((_, c) => rows.reduce((s, r) => s + r[c]!, 0) / rows.length);

export interface RefOptions {
  readonly scales: readonly number[];
  readonly flip: boolean;
  readonly dense: boolean;
  /** The crop corners per scale: [tops, lefts], or absent for no multi-crop. */
  readonly crops?: (q: number) => [number[], number[]];
  readonly mean?: readonly number[];
}

/** Per-scale and combined posteriors of one image, following the paper. */
export function evalRef(
  graph: TypedGraph,
  weights: ReadonlyMap<string, Float32Array>,
  image: ArrayLike<number>,
  shape: Chw,
  opts: RefOptions,
): { perScale: number[][]; combined: number[] } {
  const [c, h, w] = shape;
  const [, H, W] = graph.nodes[0]!.out;
  const perScale = opts.scales.map((q) => {
    const [sh, sw] = smallestSide(h, w, q);
    let img = resize64(image, shape, sh, sw);
    if (opts.mean) img = subtractMean(img, opts.mean, sh * sw);
    const views = opts.flip ? [img, flip64(img, [c, sh, sw])] : [img];
    const methods: number[][] = [];
    if (opts.dense) {
      methods.push(mean64(views.map((v) => densePosterior(graph, weights, v, [c, sh, sw]))));
    }
    if (opts.crops) {
      const [tops, lefts] = opts.crops(q);
      const posts: number[][] = [];
      // Each crop of the grid, and (with flips) its own mirror image.
      for (const top of tops)
        for (const left of lefts) {
          const x = crop64(img, [c, sh, sw], top, left, H, W);
          posts.push(densePosterior(graph, weights, x, [c, H, W]));
          if (opts.flip)
            posts.push(densePosterior(graph, weights, flip64(x, [c, H, W]), [c, H, W]));
        }
      methods.push(mean64(posts));
    }
    return mean64(methods);
  });
  return { perScale, combined: mean64(perScale) };
}
