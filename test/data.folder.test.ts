import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import sharp from 'sharp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { VggcError } from '../dsl/diagnostics.js';
import type { Split } from '../runtime/data/dataset.js';
import { decodeImage, loadFolder } from '../runtime/data/folder.js';
import { writeNpy } from '../runtime/npy.js';

let root: string;
let n = 0;
/** A fresh folder under the suite's temporary directory. */
async function fresh(): Promise<string> {
  const dir = join(root, `case${n++}`);
  await mkdir(dir, { recursive: true });
  return dir;
}

beforeAll(async () => {
  root = await mkdtemp(join(tmpdir(), 'vggc-data-'));
});
afterAll(async () => {
  await rm(root, { recursive: true, force: true });
});

/** An HWC uint8 image whose pixels are a function of (y, x, channel) and `seed`. */
function pixels(h: number, w: number, c: number, seed: number): Uint8Array {
  const a = new Uint8Array(h * w * c);
  for (let y = 0; y < h; y++)
    for (let x = 0; x < w; x++)
      for (let k = 0; k < c; k++)
        a[(y * w + x) * c + k] = (seed * 37 + y * 23 + x * 11 + k * 71) % 256;
  return a;
}

/** HWC uint8 -> CHW float32 in [0, 1]. */
function chw(a: Uint8Array, h: number, w: number, c: number): number[] {
  const out: number[] = [];
  for (let k = 0; k < c; k++) for (let p = 0; p < h * w; p++) out.push(a[p * c + k]! / 255);
  return out;
}

async function writeImage(
  file: string,
  data: Uint8Array,
  h: number,
  w: number,
  c: 1 | 3 | 4,
  format: 'png' | 'jpeg' = 'png',
): Promise<void> {
  await mkdir(join(file, '..'), { recursive: true });
  const img = sharp(Buffer.from(data), { raw: { width: w, height: h, channels: c } });
  await (
    format === 'png' ? img.png() : img.jpeg({ quality: 100, chromaSubsampling: '4:4:4' })
  ).toFile(file);
}

async function allImages(split: Split): Promise<number[][]> {
  const out: number[][] = [];
  for (let i = 0; i < split.length; i++) out.push(Array.from(await split.image(i)));
  return out;
}

const labelsOf = (split: Split): number[] =>
  Array.from({ length: split.length }, (_, i) => split.label(i));

async function message(p: Promise<unknown>): Promise<string> {
  try {
    await p;
  } catch (e) {
    expect(e).toBeInstanceOf(VggcError);
    const text = (e as Error).message;
    expect(text).not.toContain('\n');
    return text;
  }
  throw new Error('expected a VggcError');
}

describe('image trees: train/ and test/', () => {
  let dir: string;
  const px = [0, 1, 2, 3, 4].map((s) => pixels(3, 4, 3, s));
  beforeAll(async () => {
    dir = await fresh();
    await writeImage(join(dir, 'train/cat/a.png'), px[0]!, 3, 4, 3);
    await writeImage(join(dir, 'train/cat/b.png'), px[1]!, 3, 4, 3);
    await writeImage(join(dir, 'train/dog/c.PNG'), px[2]!, 3, 4, 3);
    await writeImage(join(dir, 'test/cat/d.png'), px[3]!, 3, 4, 3);
    await writeImage(join(dir, 'test/dog/e.png'), px[4]!, 3, 4, 3);
    await writeFile(join(dir, 'train/dog/notes.txt'), 'not an image');
    await writeFile(join(dir, 'train/dog/.hidden.png'), 'hidden files are ignored');
    await mkdir(join(dir, 'train/.cache'));
  });

  it('lists classes, splits and labels in sorted order', async () => {
    const ds = await loadFolder(dir);
    expect(ds.name).toBe(dir);
    expect(ds.classes).toEqual(['cat', 'dog']);
    expect(ds.shape).toEqual([3, 3, 4]);
    expect(ds.preprocessed).toBe(false);
    expect(ds.train.length).toBe(3);
    expect(ds.test.length).toBe(2);
    expect(labelsOf(ds.train)).toEqual([0, 0, 1]);
    expect(labelsOf(ds.test)).toEqual([0, 1]);
  });

  it('decodes PNGs exactly to CHW float32 in [0, 1], asynchronously', async () => {
    const ds = await loadFolder(dir);
    const p = ds.train.image(0);
    expect(p).toBeInstanceOf(Promise);
    const img = await p;
    expect(img).toBeInstanceOf(Float32Array);
    // Exactly v / 255 in float32, channel planes first.
    expect(Array.from(img)).toEqual(Array.from(Float32Array.from(chw(px[0]!, 3, 4, 3))));
    const want = [0, 1, 2].map((s) => Array.from(Float32Array.from(chw(px[s]!, 3, 4, 3))));
    expect(await allImages(ds.train)).toEqual(want);
    expect(await allImages(ds.test)).toEqual(
      [3, 4].map((s) => Array.from(Float32Array.from(chw(px[s]!, 3, 4, 3)))),
    );
  });

  it('gives luminance with channels: 1', async () => {
    const ds = await loadFolder(dir, { channels: 1 });
    expect(ds.shape).toEqual([1, 3, 4]);
    const img = await ds.train.image(0);
    expect(img.length).toBe(12);
    // libvips computes relative luminance in linear light: decode sRGB, weigh with the
    // Rec. 709 coefficients, encode again.
    const lin = (v: number): number =>
      (v /= 255) <= 0.04045 ? v / 12.92 : ((v + 0.055) / 1.055) ** 2.4;
    const enc = (v: number): number =>
      255 * (v <= 0.0031308 ? 12.92 * v : 1.055 * v ** (1 / 2.4) - 0.055);
    for (let p = 0; p < 12; p++) {
      const [r, g, b] = [0, 1, 2].map((k) => lin(px[0]![p * 3 + k]!));
      expect(Math.abs(img[p]! * 255 - enc(0.2126 * r! + 0.7152 * g! + 0.0722 * b!))).toBeLessThan(
        1.5,
      );
    }
  });

  it('resizes to the size option (cover fit)', async () => {
    const ds = await loadFolder(dir, { size: [6, 8] });
    expect(ds.shape).toEqual([3, 6, 8]);
    for (const img of await allImages(ds.test)) {
      expect(img.length).toBe(3 * 6 * 8);
      for (const v of img) expect(v >= 0 && v <= 1).toBe(true);
    }
  });

  it('gives the same result on every load', async () => {
    const a = await loadFolder(dir);
    const b = await loadFolder(dir);
    expect(await allImages(b.train)).toEqual(await allImages(a.train));
  });
});

describe('image trees: formats and channels', () => {
  it('decodes JPEG approximately', async () => {
    const dir = await fresh();
    // A smooth image: JPEG keeps it within a few grey levels.
    const h = 16;
    const w = 16;
    const a = new Uint8Array(h * w * 3);
    for (let y = 0; y < h; y++)
      for (let x = 0; x < w; x++)
        for (let k = 0; k < 3; k++) a[(y * w + x) * 3 + k] = 40 + 8 * y + 4 * x + 20 * k;
    await writeImage(join(dir, 'x/one.jpg'), a, h, w, 3, 'jpeg');
    await writeImage(join(dir, 'x/two.JPEG'), a, h, w, 3, 'jpeg');
    const ds = await loadFolder(dir, { testFraction: 0 });
    expect(ds.train.length).toBe(2);
    const img = await ds.train.image(0);
    const want = chw(a, h, w, 3);
    let worst = 0;
    img.forEach((v, i) => (worst = Math.max(worst, Math.abs(v - want[i]!))));
    expect(worst).toBeLessThan(6 / 255);
  });

  it('replicates greyscale images to 3 channels and drops alpha', async () => {
    const dir = await fresh();
    const grey = Uint8Array.from([0, 50, 100, 250]);
    const rgba = Uint8Array.from([10, 20, 30, 0, 40, 50, 60, 128, 70, 80, 90, 255, 1, 2, 3, 4]);
    await writeImage(join(dir, 'g/grey.png'), grey, 2, 2, 1);
    await writeImage(join(dir, 'g/rgba.png'), rgba, 2, 2, 4);
    const ds = await loadFolder(dir, { testFraction: 0 });
    expect(ds.shape).toEqual([3, 2, 2]);
    const [g, c] = await allImages(ds.train);
    expect(g).toEqual(
      Array.from(Float32Array.from([...grey, ...grey, ...grey].map((v) => v / 255))),
    );
    expect(c).toEqual(
      Array.from(
        Float32Array.from([10, 40, 70, 1, 20, 50, 80, 2, 30, 60, 90, 3].map((v) => v / 255)),
      ),
    );
    const ds1 = await loadFolder(dir, { channels: 1, testFraction: 0 });
    expect(Array.from(await ds1.train.image(0))).toEqual(
      Array.from(Float32Array.from(grey, (v) => v / 255)),
    );
  });

  it('brings images of other sizes to the first image size', async () => {
    const dir = await fresh();
    await writeImage(join(dir, 'a/1.png'), pixels(4, 6, 3, 1), 4, 6, 3);
    await writeImage(join(dir, 'a/2.png'), new Uint8Array(8 * 8 * 3).fill(200), 8, 8, 3);
    const ds = await loadFolder(dir, { testFraction: 0 });
    expect(ds.shape).toEqual([3, 4, 6]);
    const img = await ds.train.image(1);
    expect(img.length).toBe(3 * 4 * 6);
    for (const v of img) expect(v).toBeCloseTo(200 / 255, 5); // a flat colour stays flat
  });
});

describe('image trees: DIR/<class>/* with a seeded split', () => {
  let dir: string;
  beforeAll(async () => {
    dir = await fresh();
    for (const cls of ['b', 'a'])
      for (let i = 0; i < 10; i++)
        await writeImage(
          join(dir, cls, `${i}.png`),
          pixels(2, 2, 3, i + (cls === 'a' ? 0 : 100)),
          2,
          2,
          3,
        );
  });

  it('puts round(n * 0.2) images of each class in test, the rest in train', async () => {
    const ds = await loadFolder(dir);
    expect(ds.classes).toEqual(['a', 'b']);
    expect(ds.train.length).toBe(16);
    expect(ds.test.length).toBe(4);
    expect(labelsOf(ds.test)).toEqual([0, 0, 1, 1]);
    expect(labelsOf(ds.train).filter((l) => l === 0).length).toBe(8);
  });

  it('is fixed by the seed, disjoint, and complete', async () => {
    const a = await loadFolder(dir);
    const b = await loadFolder(dir);
    const train = await allImages(a.train);
    const test = await allImages(a.test);
    expect(await allImages(b.test)).toEqual(test);
    const keys = new Set([...train, ...test].map((x) => x.join()));
    expect(keys.size).toBe(20);
    const other = await loadFolder(dir, { splitSeed: 5 });
    expect(await allImages(other.test)).not.toEqual(test);
    const half = await loadFolder(dir, { testFraction: 0.5 });
    expect(half.test.length).toBe(10);
  });

  it('splits DIR/train the same way when there is no DIR/test', async () => {
    const d = await fresh();
    for (let i = 0; i < 5; i++)
      await writeImage(join(d, 'train/x', `${i}.png`), pixels(2, 2, 3, i), 2, 2, 3);
    const ds = await loadFolder(d);
    expect(ds.train.length).toBe(4);
    expect(ds.test.length).toBe(1);
  });
});

describe('.npy folders', () => {
  const images = Float32Array.from({ length: 6 * 2 * 3 * 3 }, (_, i) => i / 10 - 3);
  const labels = Int32Array.from([0, 1, 2, 0, 1, 2]);

  it('reads train/ and test/ pairs as they are, flagged preprocessed', async () => {
    const dir = await fresh();
    await mkdir(join(dir, 'train'));
    await mkdir(join(dir, 'test'));
    await writeNpy(join(dir, 'train/images.npy'), [4, 2, 3, 3], images.subarray(0, 72));
    await writeNpy(join(dir, 'train/labels.npy'), [4], labels.subarray(0, 4));
    await writeNpy(join(dir, 'test/images.npy'), [2, 2, 3, 3], images.subarray(72));
    await writeNpy(join(dir, 'test/labels.npy'), [2], labels.subarray(4));
    const ds = await loadFolder(dir, { channels: 1, size: [9, 9] }); // ignored for .npy sets
    expect(ds.preprocessed).toBe(true);
    expect(ds.shape).toEqual([2, 3, 3]);
    expect(ds.classes).toEqual(['0', '1', '2']);
    expect(labelsOf(ds.train)).toEqual([0, 1, 2, 0]);
    expect(labelsOf(ds.test)).toEqual([1, 2]);
    const img = ds.test.image(1);
    expect(img).toBeInstanceOf(Float32Array);
    expect(Array.from(img as Float32Array)).toEqual(Array.from(images.subarray(90, 108)));
  });

  it('splits one pair by class, deterministically, and names classes from classes.txt', async () => {
    const dir = await fresh();
    const many = Int32Array.from({ length: 20 }, (_, i) => i % 2);
    await writeNpy(
      join(dir, 'images.npy'),
      [20, 1, 1, 2],
      Float32Array.from({ length: 40 }, (_, i) => i),
    );
    await writeNpy(join(dir, 'labels.npy'), [20], many);
    await writeFile(join(dir, 'classes.txt'), 'even\nodd\n\n');
    const ds = await loadFolder(dir);
    expect(ds.classes).toEqual(['even', 'odd']);
    expect(ds.train.length).toBe(16);
    expect(ds.test.length).toBe(4);
    expect(labelsOf(ds.test).sort()).toEqual([0, 0, 1, 1]);
    const again = await loadFolder(dir);
    expect(await allImages(again.test)).toEqual(await allImages(ds.test));
    // Each image's label is still its own: image k holds [2k, 2k + 1] and label k % 2.
    for (let i = 0; i < ds.train.length; i++) {
      const [v] = ds.train.image(i) as Float32Array;
      expect(ds.train.label(i)).toBe((v! / 2) % 2);
    }
  });
});

describe('errors: one line, naming the file', () => {
  it('a missing folder, or a file instead of one', async () => {
    const dir = await fresh();
    expect(await message(loadFolder(join(dir, 'nope')))).toBe(
      `${join(dir, 'nope')}: no such folder`,
    );
    await writeFile(join(dir, 'f'), '');
    expect(await message(loadFolder(join(dir, 'f')))).toBe(`${join(dir, 'f')}: not a folder`);
  });

  it('no class folders', async () => {
    const dir = await fresh();
    await writeFile(join(dir, 'x.png'), '');
    expect(await message(loadFolder(dir))).toBe(
      `${dir}: no class folders (expected ${join(dir, '<class>')}/*.png or *.jpg, or images.npy and labels.npy)`,
    );
  });

  it('a class folder with no images', async () => {
    const dir = await fresh();
    await writeImage(join(dir, 'a/1.png'), pixels(2, 2, 3, 0), 2, 2, 3);
    await mkdir(join(dir, 'b'));
    await writeFile(join(dir, 'b/readme.txt'), 'no images here');
    expect(await message(loadFolder(dir))).toBe(`${join(dir, 'b')}: no JPEG or PNG images`);
  });

  it('a test class that is not a training class', async () => {
    const dir = await fresh();
    await writeImage(join(dir, 'train/a/1.png'), pixels(2, 2, 3, 0), 2, 2, 3);
    await writeImage(join(dir, 'test/z/1.png'), pixels(2, 2, 3, 0), 2, 2, 3);
    expect(await message(loadFolder(dir))).toBe(
      `${join(dir, 'test/z')}: class 'z' has no folder among the training classes`,
    );
  });

  it('an undecodable image: when loading (first image) or when read', async () => {
    const dir = await fresh();
    await mkdir(join(dir, 'a'));
    await writeFile(join(dir, 'a/0.png'), 'this is not a PNG');
    expect(await message(loadFolder(dir))).toBe(
      `${join(dir, 'a/0.png')}: cannot decode image: Input buffer contains unsupported image format`,
    );
    await writeImage(join(dir, 'a/1.png'), pixels(2, 2, 3, 0), 2, 2, 3);
    const ds = await loadFolder(dir, { size: [2, 2], testFraction: 0 });
    expect(await message(Promise.resolve(ds.train.image(0)))).toMatch(
      new RegExp(
        `^${join(dir, 'a/0.png').replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}: cannot decode image: `,
      ),
    );
    // A truncated PNG.
    const good = await sharp(Buffer.from(pixels(8, 8, 3, 1)), {
      raw: { width: 8, height: 8, channels: 3 },
    })
      .png()
      .toBuffer();
    await writeFile(join(dir, 'a/0.png'), good.subarray(0, 40));
    expect(await message(Promise.resolve(ds.train.image(0)))).toMatch(
      /0\.png: cannot decode image: /,
    );
  });

  it('bad options', async () => {
    const dir = await fresh();
    expect(await message(loadFolder(dir, { testFraction: 1 }))).toBe(
      `${dir}: testFraction must be in [0, 1), got 1`,
    );
    expect(await message(loadFolder(dir, { channels: 2 as 1 }))).toBe(
      `${dir}: channels must be 1 or 3, got 2`,
    );
    expect(await message(loadFolder(dir, { size: [0, 4] }))).toBe(
      `${dir}: size must be two positive integers, got 0x4`,
    );
  });

  async function npyDir(
    imgShape: number[],
    labelData: Int32Array | Float32Array,
    labelShape = [labelData.length],
  ): Promise<string> {
    const dir = await fresh();
    const count = imgShape.reduce((a, b) => a * b, 1);
    await writeNpy(join(dir, 'images.npy'), imgShape, new Float32Array(count));
    await writeNpy(join(dir, 'labels.npy'), labelShape, labelData);
    return dir;
  }

  it('.npy: label and image counts differ', async () => {
    const dir = await npyDir([3, 1, 2, 2], Int32Array.from([0, 1]));
    expect(await message(loadFolder(dir))).toBe(
      `${join(dir, 'labels.npy')}: 2 labels for 3 images in ${join(dir, 'images.npy')}`,
    );
  });

  it('.npy: labels out of range', async () => {
    const neg = await npyDir([2, 1, 2, 2], Int32Array.from([0, -1]));
    expect(await message(loadFolder(neg))).toBe(
      `${join(neg, 'labels.npy')}: label -1 at index 1 is out of range [0, 0] (labels start at 0)`,
    );
    const big = await npyDir([2, 1, 2, 2], Int32Array.from([0, 2]));
    await writeFile(join(big, 'classes.txt'), 'a\nb\n');
    expect(await message(loadFolder(big))).toBe(
      `${join(big, 'labels.npy')}: label 2 at index 1 is out of range [0, 1] (${join(big, 'classes.txt')} names 2)`,
    );
  });

  it('.npy: float labels, wrong ranks, a missing labels file', async () => {
    const f = await npyDir([2, 1, 2, 2], Float32Array.from([0, 1]));
    expect(await message(loadFolder(f))).toMatch(
      new RegExp(`^${join(f, 'labels.npy')}: dtype float32 .* labels must be integers$`),
    );
    const rank = await npyDir([2, 4], Int32Array.from([0, 1]));
    expect(await message(loadFolder(rank))).toBe(
      `${join(rank, 'images.npy')}: expected images of shape N x C x H x W, got 2x4`,
    );
    const lrank = await npyDir([2, 1, 2, 2], Int32Array.from([0, 1]), [2, 1]);
    expect(await message(loadFolder(lrank))).toBe(
      `${join(lrank, 'labels.npy')}: expected a 1-D array of N labels, got shape 2x1`,
    );
    const empty = await npyDir([0, 1, 2, 2], new Int32Array(0));
    expect(await message(loadFolder(empty))).toBe(
      `${join(empty, 'images.npy')}: no images (shape 0x1x2x2)`,
    );
    const missing = await fresh();
    await writeNpy(join(missing, 'images.npy'), [1, 1, 1, 1], new Float32Array(1));
    expect(await message(loadFolder(missing))).toBe(
      `${join(missing, 'labels.npy')}: cannot read: no such file or directory`,
    );
  });

  it('.npy: train and test images of different shapes', async () => {
    const dir = await fresh();
    for (const [sub, hw] of [
      ['train', 2],
      ['test', 3],
    ] as const) {
      await mkdir(join(dir, sub));
      await writeNpy(join(dir, sub, 'images.npy'), [1, 1, hw, hw], new Float32Array(hw * hw));
      await writeNpy(join(dir, sub, 'labels.npy'), [1], new Int32Array(1));
    }
    expect(await message(loadFolder(dir))).toBe(
      `${join(dir, 'test/images.npy')}: images are 1x3x3, the training images 1x2x2`,
    );
  });
});

describe('decodeImage', () => {
  it('reports a missing file as a one-line error', async () => {
    const dir = await fresh();
    expect(await message(decodeImage(join(dir, 'none.png'), 3))).toBe(
      `${join(dir, 'none.png')}: cannot read: no such file or directory`,
    );
  });
});
