// Per-layer relative error of the Winograd kernels (compiler/wgsl/winograd.ts) against a float64
// reference, on the GPU, for VGG-16's 3x3 layer shapes at 224 x 224 (batch 1, f32, random inputs
// in [-1, 1) and weights uniform with variance 1 / (3 fan-in)): max |gpu - ref| / max |ref| over
// the first `--channels` output channels (the float64 reference of all channels would take
// minutes of CPU). Also the direct kernel, for scale. Figures in docs/winograd.md.
//
//   npx tsc -p tsconfig.json && node scripts/winograd-errors.mjs [--channels 4] [--layers 0,3]
//     [--pass forward|data]
//
// `--pass data` checks the data gradient (dy -> dx with the ReLU mask off) instead.
import { convKernels } from '../dist/compiler/wgsl/conv.js';
import { convBackwardDataKernels } from '../dist/compiler/wgsl/conv-backward.js';
import {
  winogradBackwardDataKernels,
  winogradKernels,
  winogradScratch,
} from '../dist/compiler/wgsl/winograd.js';
import { acquireGpu, checked, releaseGpu, targetOf } from '../dist/runtime/device.js';
import { kernelBindGroup, pipelineFor } from '../dist/runtime/executor.js';

const arg = (name, dflt) => {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? process.argv[i + 1] : dflt;
};
const CHANNELS = Number(arg('channels', '4'));
const ONLY = arg('layers')?.split(',').map(Number);
const DATA = arg('pass', 'forward') === 'data';

const VGG16 = [
  [3, 64, 224],
  [64, 64, 224],
  [64, 128, 112],
  [128, 128, 112],
  [128, 256, 56],
  [256, 256, 56],
  [256, 512, 28],
  [512, 512, 28],
  [512, 512, 14],
];

function random(n, seed, scale) {
  const a = new Float32Array(n);
  let s = seed >>> 0;
  for (let i = 0; i < n; i++) {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    a[i] = (s / 2 ** 32 - 0.5) * 2 * scale;
  }
  return a;
}

/** Runs the kernels with the given inputs; returns the output tensor `out`. */
async function run(gpu, kernels, inputs, sizes, out) {
  const { device } = gpu;
  return checked(gpu, kernels.at(-1).name, async () => {
    const buffers = new Map();
    for (const [name, bytes] of Object.entries(sizes)) {
      const b = device.createBuffer({
        size: bytes,
        usage: GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_DST | GPUBufferUsage.COPY_SRC,
      });
      if (inputs[name]) device.queue.writeBuffer(b, 0, inputs[name]);
      buffers.set(name, b);
    }
    const owned = [];
    const enc = device.createCommandEncoder();
    for (const k of kernels) {
      const pipeline = pipelineFor(gpu, k.code, k.entryPoint);
      const group = kernelBindGroup(
        gpu,
        pipeline,
        k,
        (b) => ({ buffer: buffers.get(b.tensor) }),
        owned,
      );
      const pass = enc.beginComputePass();
      pass.setPipeline(pipeline);
      pass.setBindGroup(0, group);
      pass.dispatchWorkgroups(...k.dispatch);
      pass.end();
    }
    const src = buffers.get(out);
    const rb = device.createBuffer({
      size: src.size,
      usage: GPUBufferUsage.MAP_READ | GPUBufferUsage.COPY_DST,
    });
    enc.copyBufferToBuffer(src, 0, rb, 0, src.size);
    device.queue.submit([enc.finish()]);
    await rb.mapAsync(GPUMapMode.READ);
    const y = new Float32Array(rb.getMappedRange().slice(0));
    rb.unmap();
    for (const b of [...buffers.values(), ...owned, rb]) b.destroy();
    return y;
  });
}

/** float64 reference of output channels 0..C-1 of a 3x3 pad-1 conv of x [ci, H, W] with w [co][ci][3][3]. */
function reference(x, w, b, cin, cout, hw, channels, flip) {
  const ref = new Float64Array(channels * hw * hw);
  for (let o = 0; o < channels; o++)
    for (let y = 0; y < hw; y++)
      for (let xx = 0; xx < hw; xx++) {
        let s = b ? b[o] : 0;
        for (let c = 0; c < cin; c++)
          for (let ky = 0; ky < 3; ky++) {
            const iy = y + ky - 1;
            if (iy < 0 || iy >= hw) continue;
            for (let kx = 0; kx < 3; kx++) {
              const ix = xx + kx - 1;
              if (ix < 0 || ix >= hw) continue;
              // Forward: w[o, c, ky, kx]; data gradient: w[c, o, 2 - ky, 2 - kx] (w is [cin][cout]).
              const wi = flip
                ? ((c * cout + o) * 3 + 2 - ky) * 3 + 2 - kx
                : ((o * cin + c) * 3 + ky) * 3 + kx;
              s += w[wi] * x[(c * hw + iy) * hw + ix];
            }
          }
        ref[(o * hw + y) * hw + xx] = s;
      }
  return ref;
}

const gpu = await acquireGpu();
const target = targetOf(gpu);
console.log(`| layer (Cin -> Cout, HxW) | direct | F(2,3) | F(4,3) |`);
console.log(`| --- | --- | --- | --- |`);
for (const [li, [cin, cout, hw]] of VGG16.entries()) {
  if (ONLY && !ONLY.includes(li)) continue;
  const spec = { n: 1, cin, h: hw, w: hw, cout, kernel: 3, pad: 1, relu: false };
  // The data gradient of this layer: a conv of dy (cout channels) into cin channels.
  const [inC, outC] = DATA ? [cout, cin] : [cin, cout];
  const x = random(inC * hw * hw, 7 + li, 1);
  const w = random(cout * cin * 9, 11 + li, 1 / Math.sqrt(cin * 9));
  const b = DATA ? undefined : random(cout, 13 + li, 0.1);
  const ref = reference(x, w, b, inC, outC, hw, Math.min(CHANNELS, outC), DATA);
  const errs = [];
  for (const algo of ['direct', 2, 4]) {
    const kernels =
      algo === 'direct'
        ? DATA
          ? convBackwardDataKernels(spec, target)
          : convKernels(spec, target)
        : DATA
          ? winogradBackwardDataKernels({ ...spec, m: algo }, target)
          : winogradKernels({ ...spec, m: algo }, target);
    const sizes = DATA
      ? { dy: x.byteLength, w: w.byteLength, dx: cin * hw * hw * 4 }
      : { x: x.byteLength, w: w.byteLength, b: b.byteLength, y: cout * hw * hw * 4 };
    if (algo !== 'direct')
      for (const s of winogradScratch(spec, algo, target, {}, DATA)) sizes[s.tensor] = s.bytes;
    const inputs = DATA ? { dy: x, w } : { x, w, b };
    const y = await run(gpu, kernels, inputs, sizes, DATA ? 'dx' : 'y');
    let maxErr = 0;
    let maxRef = 0;
    for (let i = 0; i < ref.length; i++) {
      maxErr = Math.max(maxErr, Math.abs(y[i] - ref[i]));
      maxRef = Math.max(maxRef, Math.abs(ref[i]));
    }
    errs.push((maxErr / maxRef).toExponential(1));
  }
  console.log(`| ${cin} -> ${cout}, ${hw} | ${errs.join(' | ')} |`);
}
await releaseGpu();
