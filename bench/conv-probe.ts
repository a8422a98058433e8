/**
 * Times the convolution kernels (compiler/wgsl/conv.ts, and the Winograd kernels of
 * compiler/wgsl/winograd.ts) on every distinct conv layer shape of VGG-16 at 224 x 224, batch 1
 * (or the MNIST net's at 28 x 28 with `--net mnist`), and estimates the network's total conv time.
 *
 *   npx tsc -p . && node dist/bench/conv-probe.js [--runs 5] [--layers 0,3] [--variants JSON]
 *     [--net vgg16|mnist] [--batch N] [--pass forward|data]
 *
 * `--variants` takes a JSON list of tunings (default `[{}]`, the direct kernel's defaults); an
 * entry's `algorithm` field ('direct', 'winograd-f2', 'winograd-f4') picks the generator, the
 * other fields are its tuning. `--pass data` times the data gradient instead of the forward
 * convolution (dy -> dx, with the ReLU mask). Variants are timed interleaved, layer by layer, so that they see the same machine load (lavapipe runs
 * vary 20-50% between runs). Each run is one submit of the layer's kernels (weight pack, input
 * pad, conv), each in its own compute pass; GPU time comes from timestamp queries when the
 * adapter has them, else from wall time around `onSubmittedWorkDone`. Before awaiting, the
 * script sleeps for most of the expected time: while a promise is pending Dawn polls on the JS
 * thread and takes a core from lavapipe. Reports the median of `--runs` runs after a warm-up,
 * and the pipeline creation time (including the first dispatch, where lavapipe compiles).
 */
import type { Tuning } from '../compiler/algorithms.js';
import { convBackwardDataKernels } from '../compiler/wgsl/conv-backward.js';
import { convKernels, convScratch, type ConvSpec } from '../compiler/wgsl/conv.js';
import type { Kernel } from '../compiler/wgsl/kernel.js';
import {
  winogradBackwardDataKernels,
  winogradKernels,
  winogradMultiplies,
  winogradScratch,
} from '../compiler/wgsl/winograd.js';
import { acquireGpu, checked, releaseGpu, targetOf, type Gpu } from '../runtime/device.js';
import { kernelBindGroup } from '../runtime/executor.js';

/** A generator and its tuning: `{ algorithm: 'winograd-f4', coTile: 8 }`. */
type Variant = Tuning & { readonly algorithm?: 'direct' | 'winograd-f2' | 'winograd-f4' };

interface Layer {
  readonly cin: number;
  readonly cout: number;
  readonly hw: number;
  /** How many of VGG-16's 13 conv layers have this shape. */
  readonly count: number;
}

const VGG16: readonly Layer[] = [
  { cin: 3, cout: 64, hw: 224, count: 1 },
  { cin: 64, cout: 64, hw: 224, count: 1 },
  { cin: 64, cout: 128, hw: 112, count: 1 },
  { cin: 128, cout: 128, hw: 112, count: 1 },
  { cin: 128, cout: 256, hw: 56, count: 1 },
  { cin: 256, cout: 256, hw: 56, count: 2 },
  { cin: 256, cout: 512, hw: 28, count: 1 },
  { cin: 512, cout: 512, hw: 28, count: 2 },
  { cin: 512, cout: 512, hw: 14, count: 3 },
];

const MNIST: readonly Layer[] = [
  { cin: 1, cout: 16, hw: 28, count: 1 },
  { cin: 16, cout: 16, hw: 28, count: 1 },
  { cin: 16, cout: 32, hw: 14, count: 1 },
  { cin: 32, cout: 32, hw: 14, count: 1 },
];

function arg(name: string): string | undefined {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? process.argv[i + 1] : undefined;
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));
const median = (xs: number[]): number => {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)]!;
};

/** A layer's kernels with their buffers bound, ready to encode any number of times. */
interface Prepared {
  readonly kernels: readonly Kernel[];
  readonly pipelines: readonly GPUComputePipeline[];
  readonly groups: readonly GPUBindGroup[];
  readonly buffers: readonly GPUBuffer[];
  /** Pipeline creation plus the first run, in ms (lavapipe compiles at first use). */
  readonly createMs: number;
}

function randomFill(n: number, seed: number, scale: number): Float32Array<ArrayBuffer> {
  const a = new Float32Array(n);
  let s = seed >>> 0;
  for (let i = 0; i < n; i++) {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    a[i] = (s / 2 ** 32 - 0.5) * 2 * scale;
  }
  return a;
}

/** The kernels and scratch tensors of a variant (forward, or the data gradient with `data`). */
function kernelsOf(
  g: Gpu,
  spec: ConvSpec,
  v: Variant,
  data: boolean,
): { kernels: Kernel[]; scratch: { tensor: string; bytes: number }[] } {
  const target = targetOf(g);
  const { algorithm = 'direct', ...tuning } = v;
  if (algorithm === 'direct') {
    return data
      ? { kernels: convBackwardDataKernels({ ...spec, mask: true }, target, tuning), scratch: [] }
      : { kernels: convKernels(spec, target, tuning), scratch: convScratch(spec, target, tuning) };
  }
  const m = algorithm === 'winograd-f2' ? 2 : 4;
  return {
    kernels: data
      ? winogradBackwardDataKernels({ ...spec, mask: true, m }, target, tuning)
      : winogradKernels({ ...spec, m }, target, tuning),
    scratch: winogradScratch(spec, m, target, tuning, data),
  };
}

async function prepare(g: Gpu, spec: ConvSpec, v: Variant, data: boolean): Promise<Prepared> {
  const { device } = g;
  const { kernels, scratch } = kernelsOf(g, spec, v, data);
  const xBytes = spec.n * spec.cin * spec.h * spec.w * 4;
  const yBytes = spec.n * spec.cout * spec.h * spec.w * 4;
  const sizes: Record<string, number> = {
    x: xBytes,
    w: spec.cout * spec.cin * spec.kernel * spec.kernel * 4,
    b: spec.cout * 4,
    y: yBytes,
    dy: yBytes,
    dx: xBytes,
    mask_src: xBytes,
  };
  for (const s of scratch) sizes[s.tensor] = s.bytes;
  const buffers = new Map<string, GPUBuffer>();
  for (const [name, size] of Object.entries(sizes)) {
    const buf = device.createBuffer({
      size,
      usage: GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_DST,
    });
    if (['x', 'w', 'b', 'dy', 'mask_src'].includes(name)) {
      const scale = name === 'w' ? 1 / Math.sqrt(spec.cin * 9) : 1;
      device.queue.writeBuffer(buf, 0, randomFill(size / 4, name.charCodeAt(0), scale));
    }
    buffers.set(name, buf);
  }
  const uniforms: GPUBuffer[] = [];
  const t0 = performance.now();
  const { pipelines, groups } = await checked(g, `conv probe ${kernels.at(-1)!.name}`, () => {
    const pipelines = kernels.map((k) =>
      device.createComputePipeline({
        layout: 'auto',
        compute: { module: device.createShaderModule({ code: k.code }), entryPoint: k.entryPoint },
      }),
    );
    const groups = kernels.map((k, i) =>
      kernelBindGroup(
        g,
        pipelines[i]!,
        k,
        (b) => ({
          buffer: buffers.get(b.tensor)!,
          offset: b.offsetBytes ?? 0,
          ...(b.sizeBytes !== undefined ? { size: b.sizeBytes } : {}),
        }),
        uniforms,
      ),
    );
    return { pipelines, groups };
  });
  const p = {
    kernels,
    pipelines,
    groups,
    buffers: [...buffers.values(), ...uniforms],
    createMs: 0,
  };
  await runOnce(g, p, undefined, 0);
  return { ...p, createMs: performance.now() - t0 };
}

/** CPU time (all threads of this process: lavapipe's workers and Dawn) of the last run, in ms. */
let lastCpuMs = 0;

/**
 * One submit of the layer's kernels; returns per-kernel GPU ms (timestamps) or the wall time
 * of the whole submit in the last entry.
 */
async function runOnce(
  g: Gpu,
  p: Omit<Prepared, 'createMs'>,
  q: { set: GPUQuerySet; resolve: GPUBuffer; read: GPUBuffer } | undefined,
  expectMs: number,
): Promise<number[]> {
  const { device } = g;
  const enc = device.createCommandEncoder();
  p.kernels.forEach((k, i) => {
    const pass = enc.beginComputePass(
      q
        ? {
            timestampWrites: {
              querySet: q.set,
              beginningOfPassWriteIndex: 2 * i,
              endOfPassWriteIndex: 2 * i + 1,
            },
          }
        : {},
    );
    pass.setPipeline(p.pipelines[i]!);
    pass.setBindGroup(0, p.groups[i]!);
    pass.dispatchWorkgroups(...k.dispatch);
    pass.end();
  });
  if (q) {
    enc.resolveQuerySet(q.set, 0, 2 * p.kernels.length, q.resolve, 0);
    enc.copyBufferToBuffer(q.resolve, 0, q.read, 0, q.resolve.size);
  }
  const t0 = performance.now();
  const cpu0 = process.cpuUsage();
  device.queue.submit([enc.finish()]);
  if (expectMs > 2) await sleep(expectMs);
  await device.queue.onSubmittedWorkDone();
  const wall = performance.now() - t0;
  const cpu = process.cpuUsage(cpu0);
  lastCpuMs = (cpu.user + cpu.system) / 1000;
  if (!q) return [wall];
  await q.read.mapAsync(GPUMapMode.READ);
  const ts = new BigInt64Array(q.read.getMappedRange().slice(0));
  q.read.unmap();
  return p.kernels.map((_, i) => Number(ts[2 * i + 1]! - ts[2 * i]!) / 1e6);
}

/** `, actual N GFLOP/s` (the point-wise multiplies it does) for a Winograd variant. */
function actual(v: Variant, spec: ConvSpec, ms: number): string {
  if (!v.algorithm || v.algorithm === 'direct') return '';
  const flops = 2 * winogradMultiplies(spec, v.algorithm === 'winograd-f2' ? 2 : 4);
  return ` (actual ${(flops / (ms * 1e6)).toFixed(1)})`;
}

async function main(): Promise<void> {
  const runs = Number(arg('runs') ?? 5);
  const variants = JSON.parse(arg('variants') ?? '[{}]') as Variant[];
  const net = arg('net') === 'mnist' ? MNIST : VGG16;
  const batch = Number(arg('batch') ?? 1);
  const data = arg('pass') === 'data';
  const only = arg('layers')
    ?.split(',')
    .map((s) => Number(s));
  const g = await acquireGpu();
  const timestamps = g.features.has('timestamp-query');
  console.log(
    `adapter: ${g.adapter.description}; subgroups ${g.subgroups}; ` +
      `timing: ${timestamps ? 'timestamp queries' : 'wall time around onSubmittedWorkDone'}; ` +
      `median of ${runs} runs after a warm-up`,
  );
  const totals = variants.map(() => ({ ms: 0, flops: 0, auxMs: 0, createMs: 0, cpuMs: 0 }));
  for (const [li, layer] of net.entries()) {
    if (only && !only.includes(li)) continue;
    const spec: ConvSpec = {
      n: batch,
      cin: layer.cin,
      h: layer.hw,
      w: layer.hw,
      cout: layer.cout,
      kernel: 3,
      pad: 1,
      relu: true,
    };
    const prepared: Prepared[] = [];
    for (const v of variants) prepared.push(await prepare(g, spec, v, data));
    const qs = prepared.map((p) => {
      if (!timestamps) return undefined;
      const count = 2 * p.kernels.length;
      return {
        set: g.device.createQuerySet({ type: 'timestamp', count }),
        resolve: g.device.createBuffer({
          size: 8 * count,
          usage: GPUBufferUsage.QUERY_RESOLVE | GPUBufferUsage.COPY_SRC,
        }),
        read: g.device.createBuffer({
          size: 8 * count,
          usage: GPUBufferUsage.MAP_READ | GPUBufferUsage.COPY_DST,
        }),
      };
    });
    const samples = prepared.map(() => [] as number[][]);
    const cpuSamples = prepared.map(() => [] as number[]);
    const expect = prepared.map(() => 0);
    for (let r = 0; r <= runs; r++) {
      for (const [vi, p] of prepared.entries()) {
        const t = await runOnce(g, p, qs[vi], expect[vi]!);
        expect[vi] = t.reduce((a, b) => a + b, 0);
        if (r > 0) {
          // run 0 is the warm-up
          samples[vi]!.push(t);
          cpuSamples[vi]!.push(lastCpuMs);
        }
      }
    }
    for (const [vi, p] of prepared.entries()) {
      const conv = p.kernels.at(-1)!;
      const per = (i: number): number => median(samples[vi]!.map((t) => t[i]!));
      const convMs = timestamps ? per(p.kernels.length - 1) : per(0);
      const auxMs = timestamps ? p.kernels.slice(0, -1).reduce((a, _, i) => a + per(i), 0) : 0;
      const gflops = conv.flops / (convMs * 1e6);
      const cpuMs = median(cpuSamples[vi]!);
      const tot = totals[vi]!;
      tot.ms += layer.count * convMs;
      tot.auxMs += layer.count * auxMs;
      tot.flops += layer.count * conv.flops;
      tot.createMs += p.createMs;
      tot.cpuMs += layer.count * cpuMs;
      console.log(
        `${variants.length > 1 ? `variant ${vi} ` : ''}conv3x3 ${layer.cin}->${layer.cout} ` +
          `${layer.hw}x${layer.hw} (x${layer.count}): ${convMs.toFixed(1)} ms, ` +
          `${gflops.toFixed(1)} GFLOP/s${actual(variants[vi]!, spec, convMs)}` +
          (timestamps ? (auxMs > 0 ? `; aux passes ${auxMs.toFixed(2)} ms` : '') : ' (wall)') +
          `; ${(conv.flops / (cpuMs * 1e6)).toFixed(1)} GFLOP per CPU-s` +
          `; pipelines+first run ${p.createMs.toFixed(0)} ms`,
      );
      for (const b of p.buffers) b.destroy();
    }
  }
  for (const [vi, t] of totals.entries()) {
    console.log(
      `${variants.length > 1 ? `variant ${vi} ${JSON.stringify(variants[vi])}: ` : ''}` +
        `${net === MNIST ? 'MNIST' : 'VGG-16'} conv layers${only ? ' (selected)' : ''}: ${(t.flops / 1e9).toFixed(1)} GFLOP in ` +
        `${t.ms.toFixed(0)} ms conv + ${t.auxMs.toFixed(0)} ms aux passes = ` +
        `${(t.flops / ((t.ms + t.auxMs) * 1e6)).toFixed(1)} GFLOP/s ` +
        `(${(t.flops / (t.cpuMs * 1e6)).toFixed(1)} per CPU-s); ` +
        `pipeline creation ${(t.createMs / 1000).toFixed(1)} s`,
    );
  }
  await releaseGpu();
}

await main();
