#!/usr/bin/env node
// Fingerprints every plan the compiler makes of the example models, to show that a refactoring
// of the compiler changes no plan (the scheduler's one loop over lowering rules was checked so).
//
//   node scripts/plan-hashes.mjs DIST OUT.jsonl     hash the plans of the build in DIST
//   node scripts/plan-hashes.mjs --compare A B      list the plans that differ; exit 1 if any
//
// Copy dist/ aside (inside the repository, e.g. tmp/, so that its packages resolve) before the
// change, build after it, hash both and compare. Each line holds the configuration and short
// sha256 hashes of its plan.json (compiler/plan-json.ts), its WGSL files and the whole plan.
// Configurations: every model of examples/, three targets (lavapipe; subgroups; a real GPU),
// inference at batch 1 and 3, with probabilities at 32x32, training at the declared size and
// at 32x32, training without dropout, and dense evaluation, each fused, unfused and (on
// lavapipe) with each fusion alone.
import { createHash } from 'node:crypto';
import { readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { resolve } from 'node:path';

if (process.argv[2] === '--compare') {
  const read = (f) =>
    new Map(
      readFileSync(f, 'utf8')
        .trim()
        .split('\n')
        .map((l) => [JSON.parse(l).key, l]),
    );
  const [a, b] = [read(process.argv[3]), read(process.argv[4])];
  const keys = new Set([...a.keys(), ...b.keys()]);
  const differ = [...keys].filter((k) => a.get(k) !== b.get(k));
  for (const k of differ) console.log(`differs: ${k}`);
  console.log(`${keys.size} plans, ${differ.length} differ`);
  process.exit(differ.length ? 1 : 0);
}

const dist = resolve(process.argv[2]);
const { parse } = await import(`${dist}/dsl/index.js`);
const { checkSource } = await import(`${dist}/compiler/frontend.js`);
const C = await import(`${dist}/compiler/compile.js`);
const { planFiles } = await import(`${dist}/compiler/plan-json.js`);
const { FUSIONS } = await import(`${dist}/compiler/passes/index.js`);

const lavapipe = {
  maxStorageBufferBindingSize: 128 * 2 ** 20,
  maxComputeWorkgroupsPerDimension: 65535,
  maxComputeInvocationsPerWorkgroup: 256,
  maxComputeWorkgroupStorageSize: 16384,
  minStorageBufferOffsetAlignment: 256,
  subgroups: false,
  software: true,
};
const targets = {
  lavapipe,
  subgroups: { ...lavapipe, subgroups: true, subgroupMinSize: 8 },
  gpu: {
    ...lavapipe,
    subgroups: true,
    subgroupMinSize: 32,
    software: false,
    maxComputeInvocationsPerWorkgroup: 1024,
    maxComputeWorkgroupStorageSize: 32768,
    maxStorageBufferBindingSize: 2 ** 31 - 4,
  },
};
const hash = (s) => createHash('sha256').update(s).digest('hex').slice(0, 16);
const lines = [];
const record = (key, compile) => {
  let r;
  try {
    const plan = compile();
    const { wgsl, json } = planFiles(plan);
    r = {
      json: hash(JSON.stringify(json)),
      wgsl: hash(JSON.stringify([...wgsl])),
      full: hash(JSON.stringify(plan, (_, v) => (v instanceof Map ? [...v] : v))),
    };
  } catch (e) {
    r = { error: String(e?.message ?? e) };
  }
  lines.push(JSON.stringify({ key, ...r }));
};

const examples = new URL('../examples/', import.meta.url).pathname;
const fusions = [true, false, ...Object.keys(FUSIONS).map((n) => [n])];
for (const file of readdirSync(examples).filter((f) => f.endsWith('.vgg'))) {
  const text = readFileSync(examples + file, 'utf8');
  for (const { name } of parse({ name: file, text }).ast.models) {
    const g = checkSource({ name: file, text }, { model: name });
    const c = g.nodes[0].out[0];
    const small = checkSource({ name: file, text }, { model: name, input: [c, 32, 32] });
    for (const [tn, target] of Object.entries(targets)) {
      for (const fuse of tn === 'lavapipe' ? fusions : [true, false]) {
        const k = `${file}/${name}/${tn}/${JSON.stringify(fuse)}`;
        for (const batch of [1, 3]) {
          record(`${k}/inference/n${batch}`, () => C.compileInference(g, { target, batch, fuse }));
        }
        const probs = { target, batch: 2, fuse, output: 'probs' };
        record(`${k}/probs`, () => C.compileInference(small, probs));
        record(`${k}/train`, () => C.compileTraining(g, { target, batch: 2, fuse }));
        record(`${k}/train-small`, () => C.compileTraining(small, { target, batch: 2, fuse }));
        const noDropout = () => C.setDropout(small, 0);
        record(`${k}/train-p0`, () => C.compileTraining(noDropout(), { target, batch: 2, fuse }));
        const dense = [c, 256, 288];
        record(`${k}/dense`, () => C.compileDense(g).plan(dense, { target, batch: 2, fuse }));
      }
    }
  }
}
writeFileSync(process.argv[3], lines.join('\n') + '\n');
console.log(`${lines.length} plans hashed into ${process.argv[3]}`);
