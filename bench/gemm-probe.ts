/**
 * Times the GEMM kernels (compiler/wgsl/gemm.ts) against the direct kernels of the same layers:
 * the FC layers and FC gradients of the MNIST net's training step (batch 64), VGG-16's FC6 and
 * FC7 at batch 8 and 32, and VGG-C's 1x1 convolutions at batch 1 (docs/gemm.md).
 *
 *   npx tsc -p . && node dist/bench/gemm-probe.js [--runs 5] [--only mnist|fc|conv1]
 *
 * Each case is one layer's kernels (all weight chunks), each kernel in its own compute pass, one
 * submit per run; GPU time from timestamp queries. Direct and GEMM alternate run by run, so both
 * see the same machine load (lavapipe runs vary 20-50%). Reports the median of `--runs` runs
 * after a warm-up run that compiles the pipelines.
 */
import { fcBackwardDataKernels, fcBackwardWeightKernels } from '../compiler/wgsl/fc-backward.js';
import { fcKernels, type FcSpec } from '../compiler/wgsl/fc.js';
import { convKernels } from '../compiler/wgsl/conv.js';
import {
  gemmConv1x1Kernels,
  gemmFcBackwardDataKernels,
  gemmFcBackwardWeightKernels,
  gemmFcKernels,
} from '../compiler/wgsl/gemm.js';
import type { Kernel } from '../compiler/wgsl/kernel.js';
import { acquireGpu, checked, releaseGpu, targetOf, type Gpu } from '../runtime/device.js';
import { kernelBindGroup, pipelineFor } from '../runtime/executor.js';

interface Case {
  readonly group: 'mnist' | 'fc' | 'conv1';
  readonly name: string;
  /** Floats of every tensor the kernels bind. */
  readonly tensors: Readonly<Record<string, number>>;
  readonly direct: readonly Kernel[];
  readonly gemm: readonly Kernel[];
}

function arg(name: string): string | undefined {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? process.argv[i + 1] : undefined;
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));
const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

function cases(g: Gpu): Case[] {
  const t = targetOf(g);
  const out: Case[] = [];
  const fcCases = (group: Case['group'], spec: FcSpec, label: string, mask: boolean): void => {
    const { n, inFeatures: IN, outFeatures: OUT } = spec;
    const fwd = { x: n * IN, w: OUT * IN, b: OUT, y: n * OUT, params: 4 };
    out.push({
      group,
      name: `${label} forward`,
      tensors: fwd,
      direct: fcKernels(spec, t),
      gemm: gemmFcKernels(spec, t),
    });
    const bspec = { ...spec, relu: false, mask };
    out.push({
      group,
      name: `${label} grad data${mask ? ' + mask' : ''}`,
      tensors: { dy: n * OUT, w: OUT * IN, dx: n * IN, mask_src: n * IN },
      direct: fcBackwardDataKernels(bspec, t),
      gemm: gemmFcBackwardDataKernels(bspec, t),
    });
    out.push({
      group,
      name: `${label} grad weight`,
      tensors: { x: n * IN, dy: n * OUT, dw: OUT * IN, db: OUT },
      direct: fcBackwardWeightKernels(spec, t),
      gemm: gemmFcBackwardWeightKernels(spec, t),
    });
  };
  // MNIST net (examples/mnist.vgg), batch 64: FC-256 (+ReLU +dropout fused) on 32x7x7, FC-10.
  fcCases(
    'mnist',
    { n: 64, inFeatures: 1568, outFeatures: 256, relu: true, dropout: { p: 0.25 } },
    'mnist FC 1568->256 n64',
    false,
  );
  fcCases(
    'mnist',
    { n: 64, inFeatures: 256, outFeatures: 10, relu: false },
    'mnist FC 256->10 n64',
    true,
  );
  for (const n of [8, 32]) {
    fcCases(
      'fc',
      { n, inFeatures: 4096, outFeatures: 4096, relu: true },
      `FC7 4096->4096 n${n}`,
      true,
    );
    const fc6 = { n, inFeatures: 25088, outFeatures: 4096, relu: true };
    out.push({
      group: 'fc',
      name: `FC6 25088->4096 n${n} forward`,
      tensors: { x: n * 25088, w: 4096 * 25088, b: 4096, y: n * 4096 },
      direct: fcKernels(fc6, t),
      gemm: gemmFcKernels(fc6, t),
    });
  }
  // VGG-C's 1x1 convs (batch 1).
  for (const [c, hw] of [
    [256, 56],
    [512, 28],
    [512, 14],
  ] as const) {
    const spec = { n: 1, cin: c, h: hw, w: hw, cout: c, kernel: 1 as const, pad: 0, relu: true };
    out.push({
      group: 'conv1',
      name: `conv1x1 ${c}->${c} ${hw}x${hw} n1`,
      tensors: { x: c * hw * hw, w: c * c, b: c, y: c * hw * hw },
      direct: convKernels(spec, t),
      gemm: gemmConv1x1Kernels(spec, t),
    });
  }
  return out;
}

interface Bound {
  readonly kernels: readonly Kernel[];
  readonly pipelines: GPUComputePipeline[];
  readonly groups: GPUBindGroup[];
}

function bind(
  g: Gpu,
  kernels: readonly Kernel[],
  buffers: Map<string, GPUBuffer>,
  owned: GPUBuffer[],
): Bound {
  const pipelines = kernels.map((k) => pipelineFor(g, k.code, k.entryPoint));
  const groups = kernels.map((k, i) =>
    kernelBindGroup(
      g,
      pipelines[i]!,
      k,
      (b) => {
        const buffer = buffers.get(b.tensor)!;
        const offset = b.offsetBytes ?? 0;
        return { buffer, offset, size: b.sizeBytes ?? buffer.size - offset };
      },
      owned,
    ),
  );
  return { kernels, pipelines, groups };
}

async function time(
  g: Gpu,
  b: Bound,
  q: GPUQuerySet,
  resolve: GPUBuffer,
  read: GPUBuffer,
  expectMs: number,
) {
  const enc = g.device.createCommandEncoder();
  b.kernels.forEach((k, i) => {
    const pass = enc.beginComputePass({
      timestampWrites: {
        querySet: q,
        beginningOfPassWriteIndex: 2 * i,
        endOfPassWriteIndex: 2 * i + 1,
      },
    });
    pass.setPipeline(b.pipelines[i]!);
    pass.setBindGroup(0, b.groups[i]!);
    pass.dispatchWorkgroups(...k.dispatch);
    pass.end();
  });
  enc.resolveQuerySet(q, 0, 2 * b.kernels.length, resolve, 0);
  enc.copyBufferToBuffer(resolve, 0, read, 0, resolve.size);
  g.device.queue.submit([enc.finish()]);
  if (expectMs > 2) await sleep(0.8 * expectMs);
  await read.mapAsync(GPUMapMode.READ);
  const ts = new BigInt64Array(read.getMappedRange().slice(0));
  read.unmap();
  let ms = 0;
  for (let i = 0; i < b.kernels.length; i++) ms += Number(ts[2 * i + 1]! - ts[2 * i]!) / 1e6;
  return ms;
}

async function main(): Promise<void> {
  const runs = Number(arg('runs') ?? 5);
  const only = arg('only');
  const g = await acquireGpu();
  if (!g.device.features.has('timestamp-query')) throw new Error('needs timestamp-query');
  const q = g.device.createQuerySet({ type: 'timestamp', count: 64 });
  const resolve = g.device.createBuffer({
    size: 64 * 8,
    usage: GPUBufferUsage.QUERY_RESOLVE | GPUBufferUsage.COPY_SRC,
  });
  const read = g.device.createBuffer({
    size: 64 * 8,
    usage: GPUBufferUsage.MAP_READ | GPUBufferUsage.COPY_DST,
  });
  console.log('| layer | direct ms | gemm ms | gemm / direct | gemm GFLOP/s |');
  console.log('| --- | --- | --- | --- | --- |');
  for (const c of cases(g).filter((x) => !only || x.group === only)) {
    const owned: GPUBuffer[] = [];
    const buffers = new Map<string, GPUBuffer>();
    await checked(g, c.name, async () => {
      for (const [name, floats] of Object.entries(c.tensors)) {
        const buf = g.device.createBuffer({
          size: Math.max(16, floats * 4),
          usage: GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_DST,
        });
        // Small random-ish values (not zeros), written in slices to bound host memory.
        const slice = new Float32Array(Math.min(floats, 1 << 22));
        for (let i = 0; i < slice.length; i++) slice[i] = Math.sin(i * 0.37) * 0.5;
        if (name === 'params') slice.set([1, 2, 3, 0]);
        for (let at = 0; at < floats; at += slice.length) {
          const count = Math.min(slice.length, floats - at);
          g.device.queue.writeBuffer(buf, at * 4, slice.buffer, 0, count * 4);
        }
        buffers.set(name, buf);
        owned.push(buf);
      }
      const both = {
        direct: bind(g, c.direct, buffers, owned),
        gemm: bind(g, c.gemm, buffers, owned),
      };
      const ms: Record<'direct' | 'gemm', number[]> = { direct: [], gemm: [] };
      const first: Record<'direct' | 'gemm', number> = { direct: 0, gemm: 0 };
      for (const k of ['direct', 'gemm'] as const)
        first[k] = await time(g, both[k], q, resolve, read, 0);
      for (let r = 0; r < runs; r++) {
        for (const k of ['direct', 'gemm'] as const) {
          ms[k].push(
            await time(
              g,
              both[k],
              q,
              resolve,
              read,
              Math.min(...(ms[k].length ? ms[k] : [first[k]])),
            ),
          );
        }
      }
      const d = median(ms.direct);
      const m = median(ms.gemm);
      const flops = c.gemm.reduce((s, k) => s + k.flops, 0);
      console.log(
        `| ${c.name} | ${d.toFixed(2)} | ${m.toFixed(2)} | ${(m / d).toFixed(2)} | ${(flops / m / 1e6).toFixed(1)} |`,
      );
    });
    for (const b of owned) b.destroy();
  }
  releaseGpu();
}

main().catch((e: unknown) => {
  console.error(e instanceof Error ? e.message : String(e));
  process.exitCode = 1;
});
