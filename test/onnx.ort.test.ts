/**
 * ONNX on the GPU: the imported fixtures run on vggc's GPU path to the outputs PyTorch recorded
 * for them (scripts/make-onnx-fixtures.py), and ONNX Runtime's CPU execution provider runs vggc's
 * exports of the same models (plain and --dense) to vggc's GPU outputs. Tolerance 1e-4 relative
 * to the largest output. `vggc import` + `vggc run` end to end on the zoo-form fixture.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as ort from 'onnxruntime-node';
import { afterAll, describe, expect, it } from 'vitest';
import { exportOnnx } from '../compiler/onnx/export.js';
import { importOnnx, type Imported } from '../compiler/onnx/import.js';
import { createDenseInference } from '../runtime/dense.js';
import { releaseGpu } from '../runtime/device.js';
import { createInference } from '../runtime/infer.js';
import { readNpy } from '../runtime/npy.js';
import { relativeError } from './helpers.js';
import { fixture, fixtureBytes, root } from './onnx-helpers.js';
import { randomArray } from './reference/random.js';

afterAll(releaseGpu);

/** The shared checker (test/helpers.ts): also fails on NaN and on an all-zero reference. */
const relErr = (got: Float32Array, want: Float32Array) =>
  relativeError(got, Float64Array.from(want));

async function ortRun(model: Uint8Array, x: Float32Array, dims: number[]): Promise<Float32Array> {
  const session = await ort.InferenceSession.create(model, { executionProviders: ['cpu'] });
  try {
    const out = await session.run({ input: new ort.Tensor('float32', x, dims) });
    return out.output!.data as Float32Array;
  } finally {
    await session.release();
  }
}

async function vggcRun(m: Imported, x: Float32Array, n: number): Promise<Float32Array> {
  const softmax = m.graph.nodes.at(-1)!.op.op === 'softmax';
  const inference = await createInference(m.graph, m.weights, {
    output: softmax ? 'probs' : 'logits',
    maxBatch: n,
  });
  try {
    return await inference.run(x, n);
  } finally {
    inference.destroy();
  }
}

describe('ONNX fixtures on the GPU, and ONNX Runtime on their exports', () => {
  for (const [name, opsets] of [
    ['tv-static', [13]],
    ['tv-dynamic', [17, 9]],
    ['zoo', [7, 18]],
  ] as const) {
    it(`${name}: vggc matches PyTorch; ONNX Runtime runs the export (opsets ${opsets.join(', ')}) to vggc's output`, async () => {
      const m = importOnnx(fixtureBytes(name), { file: `${name}.onnx` });
      const x = await readNpy(fixture(`${name}.input.npy`));
      const want = await readNpy(fixture(`${name}.output.npy`));
      const n = x.shape[0]!;
      const got = await vggcRun(m, x.data, n);
      expect(relErr(got, want.data)).toBeLessThan(1e-4);
      for (const opset of opsets) {
        const y = await ortRun(exportOnnx(m.graph, m.weights, { opset }), x.data, x.shape);
        expect(relErr(y, got), `opset ${opset}`).toBeLessThan(1e-4);
      }
    }, 900_000);
  }

  it("--dense export: ONNX Runtime gives vggc's dense class score map on a larger image", async () => {
    const m = importOnnx(fixtureBytes('tv-static'), { file: 'tv-static.onnx' });
    const input = [3, 48, 40] as const;
    const x = randomArray(input[0] * input[1] * input[2], 5);
    const dense = await createDenseInference(m.graph, m.weights, { maxBatch: 1 });
    try {
      const got = await dense.run(x, 1, [...input]);
      expect(got.shape).toEqual([1, 10, 3, 2]);
      const y = await ortRun(exportOnnx(m.graph, m.weights, { dense: true }), x, [1, ...input]);
      expect(relErr(y, got.scores)).toBeLessThan(1e-4);
    } finally {
      dense.destroy();
    }
  }, 900_000);
});

describe('vggc import and vggc run, end to end', () => {
  const dir = mkdtempSync(join(tmpdir(), 'vggc-onnx-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));
  const vggc = (...args: string[]) => {
    const r = spawnSync(process.execPath, [join(root, 'dist/cli/main.js'), ...args], {
      cwd: root,
      encoding: 'utf8',
    });
    return { code: r.status, out: r.stdout, err: r.stderr };
  };

  it('a refused or corrupt model writes nothing', () => {
    const r = vggc(
      'import',
      'package.json',
      '--out',
      join(dir, 'a.vgg'),
      '--weights',
      join(dir, 'a.safetensors'),
    );
    expect(r.code).toBe(1);
    expect(r.err).toMatch(/^vggc: error: package\.json: not a readable ONNX model/);
    expect(r.err.trim().split('\n')).toHaveLength(1);
    expect(readdirSync(dir)).toEqual([]);
  });

  it('imports the zoo-form model, runs it to its recorded output, exports it for ONNX Runtime', async () => {
    const vgg = join(dir, 'zoo.vgg');
    const w = join(dir, 'zoo.safetensors');
    const r = vggc('import', fixture('zoo.onnx'), '--out', vgg, '--weights', w);
    expect(r.code, r.err).toBe(0);
    expect(existsSync(vgg) && existsSync(w)).toBe(true);
    const out = join(dir, 'y.npy');
    const run = vggc(
      'run',
      vgg,
      '--weights',
      w,
      '--input',
      fixture('zoo.input.npy'),
      '--out',
      out,
      '--probs',
    );
    expect(run.code, run.err).toBe(0);
    const got = await readNpy(out);
    const want = await readNpy(fixture('zoo.output.npy'));
    expect(got.shape).toEqual(want.shape);
    expect(relErr(got.data, want.data)).toBeLessThan(1e-4);

    // ... and vggc export writes it back for ONNX Runtime (a refused opset writes nothing).
    const onnxOut = join(dir, 'zoo-again.onnx');
    const bad = vggc('export', vgg, '--weights', w, '--out', onnxOut, '--opset', '6');
    expect(bad.code).toBe(1);
    expect(bad.err).toContain("--opset must be an integer from 7 to 18, not '6'");
    expect(existsSync(onnxOut)).toBe(false);
    const ex = vggc('export', vgg, '--weights', w, '--out', onnxOut, '--opset', '7');
    expect(ex.code, ex.err).toBe(0);
    const x = await readNpy(fixture('zoo.input.npy'));
    const y = await ortRun(new Uint8Array(readFileSync(onnxOut)), x.data, x.shape);
    expect(relErr(y, want.data)).toBeLessThan(1e-4);
  }, 900_000);
});
