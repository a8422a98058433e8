/**
 * Default test scales through the CLI (issue 15 item 9): a model trained at a scale below its
 * input (`train { scale 4 }` on 8x8) was tested at Q = -28, 4, 36 and refused; the defaults now
 * never fall below the input size, and the header says where they come from.
 */
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import sharp from 'sharp';
import { describe, expect, it } from 'vitest';
import { randomArray } from './reference/random.js';
import { vggc } from './cli-harness.js';

describe('vggc classify with default test scales', () => {
  it('tests at the input size and S+32, never below the input', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'vggc-scales-'));
    const model = join(dir, 't.vgg');
    writeFileSync(
      model,
      'model t {\n  input 1x8x8\n  train { scale 4 }\n  conv3-4, maxpool\n  FC-3\n  soft-max\n}\n',
    );
    const weights = join(dir, 'w.safetensors');
    expect(vggc(['init', model, '--out', weights]).code).toBe(0);
    const image = join(dir, 'a.png');
    const px = Uint8Array.from(randomArray(10 * 12, 5, 1), (v) => Math.round(127.5 + 127 * v));
    await sharp(Buffer.from(px), { raw: { width: 12, height: 10, channels: 1 } })
      .png()
      .toFile(image);
    const r = vggc(['classify', model, '--weights', weights, '--mean', '0.5', image]);
    expect(r.code, r.err).toBe(0);
    expect(r.out.split('\n')[0]).toBe(
      't: dense; scales 8, 36 (from train { scale 4 } (Q = S-32, S, S+32, at least the input ' +
        'size 8)); mean [0.5000] (from --mean)',
    );
    expect(r.out).toMatch(/^ {2}\d\.\d{4} {2}class [0-2]$/m);
  });
});
