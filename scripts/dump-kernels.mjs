// Generates every kernel of every WGSL generator (compiler/wgsl/) for a fixed set of specs,
// targets and tunings chosen to reach every branch (subgroups on / off, software / GPU adapters,
// relu, pool, mask and dropout epilogues, weights split into chunks or not, odd sizes, tails),
// and prints one line per case: `label  sha256` of the whole Kernel (name, code, dispatch,
// bindings, flops, bytes) or of the error it throws.
//
// Used to refactor the generators without changing what they emit: run it before and after and
// compare (`diff`). It reads the built generators, so build first:
//
//   npx tsc -p tsconfig.json && node scripts/dump-kernels.mjs > /tmp/after.txt
//
// `--code DIR` also writes each case's WGSL to DIR/<label>.wgsl, to read a difference.
import { createHash } from 'node:crypto';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

const w = (f) => import(`../dist/compiler/wgsl/${f}.js`);
const { convKernels, convScratch } = await w('conv');
const { convValidKernels } = await w('conv-valid');
const { convBackwardDataKernels, convBackwardWeightKernels, convBackwardScratch } =
  await w('conv-backward');
const { fcKernels } = await w('fc');
const { fcBackwardDataKernels, fcBackwardWeightKernels } = await w('fc-backward');
const { dropoutForwardKernels, dropoutBackwardKernels } = await w('dropout');
const { lrnKernels } = await w('lrn');
const { lrnBackwardKernels } = await w('lrn-backward');
const { maxpoolKernels } = await w('maxpool');
const { maxpoolBackwardKernels } = await w('maxpool-backward');
const { reluKernels } = await w('relu');
const { reluBackwardKernels } = await w('relu-backward');
const { sgdKernels } = await w('sgd');
const { softmaxKernels } = await w('softmax');
const { softmaxXentKernels, xentGradKernels } = await w('softmax-xent');

const codeDir = process.argv.indexOf('--code');
const dir = codeDir >= 0 ? process.argv[codeDir + 1] : undefined;
if (dir) mkdirSync(dir, { recursive: true });

const base = {
  maxStorageBufferBindingSize: 128 * 2 ** 20,
  maxComputeWorkgroupsPerDimension: 65535,
  maxComputeInvocationsPerWorkgroup: 1024,
  maxComputeWorkgroupStorageSize: 32768,
  minStorageBufferOffsetAlignment: 256,
};
const TARGETS = {
  swSg: { ...base, subgroups: true, software: true },
  swPlain: { ...base, subgroups: false, software: true },
  gpuSg4: { ...base, subgroups: true, software: false, subgroupMinSize: 4 },
  gpuSg32: { ...base, subgroups: true, software: false, subgroupMinSize: 32 },
  gpuSg: { ...base, subgroups: true, software: false },
  gpuPlain: { ...base, subgroups: false, software: false },
  // Small limits: weights split into chunks, grids folded, workgroups and their memory capped.
  tiny: {
    maxStorageBufferBindingSize: 64 * 1024,
    maxComputeWorkgroupsPerDimension: 7,
    maxComputeInvocationsPerWorkgroup: 64,
    maxComputeWorkgroupStorageSize: 1024,
    minStorageBufferOffsetAlignment: 256,
    subgroups: true,
    software: true,
  },
  tinyPlain: {
    maxStorageBufferBindingSize: 64 * 1024,
    maxComputeWorkgroupsPerDimension: 7,
    maxComputeInvocationsPerWorkgroup: 64,
    maxComputeWorkgroupStorageSize: 1024,
    minStorageBufferOffsetAlignment: 64,
    subgroups: false,
    software: false,
  },
};

const lines = [];
function record(label, make) {
  let text;
  try {
    const out = make();
    text = JSON.stringify(out);
    if (dir && Array.isArray(out)) {
      out.forEach((k, i) => {
        if (k && typeof k.code === 'string') writeFileSync(join(dir, `${label}#${i}.wgsl`), k.code);
      });
    }
  } catch (e) {
    text = `error: ${e instanceof Error ? e.message : String(e)}`;
  }
  lines.push(`${label}  ${createHash('sha256').update(text).digest('hex').slice(0, 16)}`);
}
const tag = (o) =>
  Object.entries(o)
    .map(([k, v]) => `${k}=${typeof v === 'object' ? JSON.stringify(v) : v}`)
    .join(',');

/** Every spec on every target with every tuning: `each(label, spec, target, tuning)`. */
function sweep(what, specs, tunings, each) {
  for (const s of specs)
    for (const [tn, t] of Object.entries(TARGETS))
      for (const tu of tunings) each(`${what} ${tag(s)} ${tn} ${tag(tu)}`, s, t, tu);
}

// --- conv (forward, with relu / pool epilogues) ---
const convSpecs = [];
for (const [n, cin, h, wd, cout, k] of [
  [1, 3, 8, 8, 8, 3],
  [2, 5, 7, 9, 7, 3],
  [1, 16, 13, 5, 12, 1],
  [3, 1, 1, 1, 4, 3],
  [1, 64, 14, 14, 64, 3],
  [2, 8, 6, 12, 20, 1],
  [1, 7, 3, 2, 3, 1],
  [2, 12, 5, 11, 36, 3],
  [1, 5, 7, 28, 9, 3],
  [2, 3, 1, 4, 4, 3],
  [1, 64, 56, 56, 128, 3],
  [1, 3, 224, 224, 64, 3],
]) {
  for (const relu of [false, true]) {
    convSpecs.push({ n, cin, h, w: wd, cout, kernel: k, pad: k === 3 ? 1 : 0, relu });
    if (h >= 2 && wd >= 2)
      convSpecs.push({ n, cin, h, w: wd, cout, kernel: k, pad: k === 3 ? 1 : 0, relu, pool: true });
  }
}
const convTunings = [
  {},
  { lanes: 4 },
  { rows: 1, cols: 8 },
  { coTile: 4, rows: 3, workgroupSize: 8 },
  { vec4Input: false, order: 'pixels' },
  { rows: 4, cols: 8, coTile: 32 },
  { rows: 2, cols: 8, order: 'pixels' },
  { subgroups: false },
  { workgroupSize: 12 },
  { coTile: 6 },
];
sweep('conv', convSpecs, convTunings, (label, s, t, tu) => {
  record(label, () => convKernels(s, t, tu));
  record(`${label} scratch`, () => convScratch(s, t, tu));
});
record('conv bad pad', () => convKernels({ ...convSpecs[0], pad: 0 }, TARGETS.swSg));
record('conv bad n', () => convKernels({ ...convSpecs[0], n: 0 }, TARGETS.swSg));
record('conv k5', () => convKernels({ ...convSpecs[0], kernel: 5, pad: 2 }, TARGETS.swSg));
record('conv pool 1x4', () =>
  convKernels({ ...convSpecs[0], h: 1, w: 4, pool: true }, TARGETS.swSg),
);
record('conv big', () =>
  convKernels({ ...convSpecs[0], n: 2, cin: 512, h: 224, w: 224, cout: 512 }, TARGETS.swSg),
);

// --- conv backward (data with / without the ReLU mask; weight, split or not) ---
const bwdSpecs = convSpecs.filter((s) => !s.pool && s.n * s.cin * s.h * s.w < 200000);
const bwdTunings = [
  {},
  { ciTile: 4, rows: 3, workgroupSize: 8 },
  { coTile: 4, splits: 1 },
  { splits: 5 },
  { rows: 1, ciTile: 32, coTile: 32 },
  { subgroups: false },
  { workgroupSize: 12 },
];
sweep('conv-bwd', bwdSpecs, bwdTunings, (label, s, t, tu) => {
  for (const mask of [false, true])
    record(`${label} data mask=${mask}`, () => convBackwardDataKernels({ ...s, mask }, t, tu));
  record(`${label} weight`, () => convBackwardWeightKernels(s, t, tu));
  record(`${label} scratch`, () => convBackwardScratch(s, t, tu));
});
record('conv-bwd bad pad', () =>
  convBackwardDataKernels({ ...convSpecs[0], pad: 0 }, TARGETS.swSg),
);

// --- conv-valid (FC-to-conv) ---
const validSpecs = [];
for (const [n, cin, h, wd, cout, k] of [
  [1, 8, 10, 11, 12, 7],
  [1, 512, 8, 8, 4096, 7],
  [1, 512, 7, 7, 4096, 7],
  [2, 3, 9, 9, 5, 3],
  [1, 5, 6, 13, 9, 2],
  [1, 4, 6, 9, 4, 7],
  [3, 16, 12, 12, 33, 5],
  [1, 1, 4, 4, 2, 1],
])
  for (const relu of [false, true]) validSpecs.push({ n, cin, h, w: wd, cout, kernel: k, relu });
const validTunings = [
  {},
  { rowsPerLane: 1 },
  { rowsPerLane: 4, tileH: 1, tileW: 3 },
  { lanes: 4 },
  { subgroups: false },
  { fcWhen1x1: false },
  { workgroupSize: 32 },
  { workgroupSize: 36 },
  { tileW: 17 },
];
sweep('conv-valid', validSpecs, validTunings, (label, s, t, tu) =>
  record(label, () => convValidKernels(s, t, tu)),
);

// --- fc (forward, relu / dropout epilogues, chunked weights) ---
const fcSpecs = [];
for (const [n, i, o] of [
  [1, 64, 16],
  [2, 64, 16],
  [3, 37, 11],
  [9, 100, 30],
  [1, 25088, 4096],
  [2, 4096, 1000],
  [16, 24, 7],
  [1, 3, 1],
  [5, 1000, 300],
])
  for (const relu of [false, true])
    for (const dropout of [undefined, { p: 0.5 }, { p: 0.25 }]) {
      const s = { n, inFeatures: i, outFeatures: o, relu };
      fcSpecs.push(dropout ? { ...s, dropout } : s);
    }
const fcTunings = [
  {},
  { design: 'rows' },
  { design: 'reduce' },
  { design: 'rows', batchTile: 3, rowsPerLane: 3 },
  { design: 'reduce', batchTile: 2, rowsPerLane: 5, workgroupSize: 100 },
  { subgroups: false },
  { batchTile: 0 },
];
sweep('fc', fcSpecs, fcTunings, (label, s, t, tu) => record(label, () => fcKernels(s, t, tu)));
record('fc bad p', () => fcKernels({ ...fcSpecs[0], dropout: { p: 1 } }, TARGETS.swSg));
record('fc bad n', () => fcKernels({ ...fcSpecs[0], n: 0 }, TARGETS.swSg));

// --- fc backward ---
const fcBwdSpecs = fcSpecs.filter((s) => !s.dropout && !s.relu);
const dataTunings = [
  {},
  { batchTile: 3, workgroupSize: 32 },
  { subgroups: false },
  { batchTile: 0 },
];
sweep('fc-bwd-data', fcBwdSpecs, dataTunings, (label, s, t, tu) => {
  for (const mask of [false, true])
    record(`${label} mask=${mask}`, () => fcBackwardDataKernels({ ...s, mask }, t, tu));
});
const weightTunings = [{}, { rowsPerLane: 3, workgroupSize: 32 }, { subgroups: false }];
sweep('fc-bwd-weight', fcBwdSpecs, weightTunings, (label, s, t, tu) =>
  record(label, () => fcBackwardWeightKernels(s, t, tu)),
);

// --- elementwise and the rest ---
const small = [TARGETS.swSg, TARGETS.tiny];
for (const [ti, t] of small.entries()) {
  for (const count of [1, 7, 8, 1000, 1001, 65536, 3000000]) {
    record(`relu ${count} ${ti}`, () => reluKernels({ count }, t));
    record(`relu-bwd ${count} ${ti}`, () => reluBackwardKernels({ count }, t));
    record(`sgd ${count} ${ti}`, () => sgdKernels({ count }, t));
    for (const p of [0, 0.5, 0.1, 0.999]) {
      record(`dropout-fwd ${count} p=${p} ${ti}`, () => dropoutForwardKernels({ count, p }, t));
      record(`dropout-bwd ${count} p=${p} ${ti}`, () => dropoutBackwardKernels({ count, p }, t));
    }
  }
  record(`relu-bwd 0 ${ti}`, () => reluBackwardKernels({ count: 0 }, t));
  record(`dropout bad p ${ti}`, () => dropoutForwardKernels({ count: 8, p: 1 }, t));
  record(`sgd 0 ${ti}`, () => sgdKernels({ count: 0 }, t));
  for (const [n, c, h, wd] of [
    [1, 3, 8, 8],
    [2, 5, 7, 9],
    [1, 64, 224, 224],
    [2, 3, 5, 4],
    [1, 1, 2, 2],
    [3, 2, 9, 12],
    [1, 2, 1, 4],
  ]) {
    const s = { n, c, h, w: wd };
    record(`maxpool ${tag(s)} ${ti}`, () => maxpoolKernels(s, t));
    record(`maxpool-bwd ${tag(s)} ${ti}`, () => maxpoolBackwardKernels(s, t));
    for (const [size, alpha, beta, k] of [
      [5, 1e-4, 0.75, 2],
      [3, 0.5, 1, 1],
      [4, 0, 0.5, 1.5],
      [1, 2, 3, 1],
      [5, 1e-4, 0.75, 0],
    ]) {
      const l = { ...s, size, alpha, beta, k };
      record(`lrn ${tag(l)} ${ti}`, () => lrnKernels(l, t));
      record(`lrn-bwd ${tag(l)} ${ti}`, () => lrnBackwardKernels(l, t));
    }
  }
  for (const [n, classes] of [
    [1, 1000],
    [3, 10],
    [2, 1],
    [5, 3],
    [64, 37],
    [100, 100],
  ]) {
    record(`softmax ${n} ${classes} ${ti}`, () => softmaxKernels({ n, classes }, t));
    record(`softmax-xent ${n} ${classes} ${ti}`, () => softmaxXentKernels({ n, classes }, t));
    record(`xent-grad ${n} ${classes} ${ti}`, () => xentGradKernels({ n, classes }, t));
  }
}

process.stdout.write(lines.join('\n') + '\n');
