/**
 * Hostile input at the library level (issue 15): huge garbage sources answer fast with a capped
 * report; binary or non-UTF-8 model files are named in one line; FIFOs, directories and devices
 * are refused before they are opened; the classifier rule; dataset classes against the model;
 * held-out test splits; NaN/Inf warnings; Dawn's harmless log lines. No GPU here.
 */
import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import fc from 'fast-check';
import { afterEach, describe, expect, it } from 'vitest';
import { classifierClasses } from '../compiler/classifier.js';
import { checkSource } from '../compiler/frontend.js';
import { MAX_LAYERS } from '../compiler/limits.js';
import { formatDiagnostics, MAX_REPORTED, VggcError, type Diagnostic } from '../dsl/diagnostics.js';
import { decodeSource, describeNonText } from '../dsl/source.js';
import { dawnLinesToShow } from '../runtime/dawn-log.js';
import { checkClasses, describeHeldOut } from '../runtime/data/dataset.js';
import { loadFolder } from '../runtime/data/folder.js';
import { countNonFinite, onWarning, warnNonFinite } from '../runtime/finite.js';
import { openForRead, readRegularFile, readRegularFileSync } from '../runtime/fsutil.js';
import { encodeNpy, readNpy, writeNpy } from '../runtime/npy.js';
import { writeSafetensors } from '../runtime/safetensors.js';
import { loadWeights } from '../runtime/weights.js';
import { diagnosticsOf } from './helpers.js';

const dir = mkdtempSync(join(tmpdir(), 'vggc-hostile-'));

/** Everything a user would see for `text` as a model: the capped report. */
function report(text: string): string {
  const source = { name: 'm.vgg', text };
  try {
    checkSource(source);
  } catch (e) {
    if (!(e instanceof VggcError)) throw e;
    return formatDiagnostics(e.diagnostics, source);
  }
  return '';
}

function seconds(fn: () => void): number {
  const t = performance.now();
  fn();
  return (performance.now() - t) / 1000;
}

/** A deterministic pseudo-random string of `n` characters drawn from `alphabet`. */
function garbage(n: number, alphabet: string, seed: number): string {
  let s = seed >>> 0 || 1;
  const out = new Array<string>(n);
  for (let i = 0; i < n; i++) {
    s ^= s << 13;
    s ^= s >>> 17;
    s ^= s << 5;
    out[i] = alphabet[(s >>> 0) % alphabet.length]!;
  }
  return out.join('');
}

const FIVE_MB = 5 * 2 ** 20;
/** Just under what parse() reads (MAX_SOURCE_CHARS): big enough to show quadratic behaviour. */
const ONE_MB = 2 ** 20 - 64;

describe('huge garbage sources answer fast with at most a screenful', () => {
  // Generous bounds: the quadratic behaviour these guard against took minutes (or forever).
  const kinds: [string, () => string][] = [
    [
      'printable ASCII',
      () => garbage(ONE_MB, ' \n!"$%&\'()*+,-./0123456789:;<=>?@AZaz[\\]^_`{|}~', 1),
    ],
    ['binary bytes read as latin1', () => garbage(ONE_MB, '\x00\x01\x7f\x80\xff\u00e9~', 2)],
    [
      'one bad line repeated',
      () => 'model m { conv3-64 foo bar ) ( }\n'.repeat(Math.floor(ONE_MB / 33)),
    ],
    [
      'valid tokens in random order',
      () =>
        garbage(Math.floor(ONE_MB / 6), 'abcdefghij', 3).replace(
          /./g,
          (c) =>
            ({
              a: 'model ',
              b: '{ ',
              c: '} ',
              d: '( ',
              e: ') ',
              f: 'x2 ',
              g: 'conv3-8 ',
              h: '\n',
              i: '= ',
              j: 'FC-10 ',
            })[c]!,
        ),
    ],
    [
      'many short lines of unknown layers',
      () => 'model m {\n' + 'conv5-64\n'.repeat(Math.floor(ONE_MB / 9)),
    ],
  ];
  for (const [name, make] of kinds) {
    it(`1 MB of ${name}`, () => {
      const text = make();
      let out = '';
      const s = seconds(() => (out = report(text)));
      expect(s).toBeLessThan(20);
      const lines = out.split('\n');
      expect(lines.length).toBeLessThanOrEqual(3 * MAX_REPORTED + 1);
      expect(out).toMatch(/error/);
    }, 60_000);
  }

  it('refuses a source of more than 1 M characters at once, in one line', () => {
    const text = 'model m {\n' + 'conv3-64\n'.repeat(FIVE_MB / 8) + '}\n';
    let out = '';
    expect(seconds(() => (out = report(text)))).toBeLessThan(20);
    expect(out).toMatch(/^m\.vgg:1:1: error: the file holds 5\.\d M characters, more than/);
    expect(out.split('\n')).toHaveLength(3);
  });

  it('refuses more than MAX_LAYERS layers written out, rather than dropping the rest', () => {
    const text = `model m {\n  input 1x8x8\n${'conv1-1\n'.repeat(MAX_LAYERS + 5)}}\n`;
    const d = diagnosticsOf(() => checkSource({ name: 'm.vgg', text }));
    expect(d.map((x) => [x.span?.line, x.message])).toEqual([
      [MAX_LAYERS + 3, `the model has more than ${MAX_LAYERS} layers`],
    ]);
  });

  it('caps the report at 20 diagnostics and says how many more there are', () => {
    const diags: Diagnostic[] = Array.from({ length: 57 }, (_, i) => ({
      severity: 'error',
      message: `problem ${i}`,
    }));
    const out = formatDiagnostics(diags).split('\n');
    expect(out).toHaveLength(21);
    expect(out[19]).toBe('vggc: error: problem 19');
    expect(out[20]).toBe('vggc: note: and 37 more errors not shown');
    expect(formatDiagnostics(diags.slice(0, 20)).split('\n')).toHaveLength(20);
  });

  it('quotes a very long line around the column, not whole', () => {
    const text = `model m {\n  input 3x8x8\n${'conv3-8, '.repeat(5000)}conv5-8\n}\n`;
    const out = report(text);
    expect(out).toMatch(/^m\.vgg:3:45005: error: conv kernel must be 1 or 3/);
    const [, quoted, caret] = out.split('\n');
    for (const l of [quoted!, caret!]) expect(l.length).toBeLessThan(400);
    expect(quoted!.slice(caret!.indexOf('^'), caret!.indexOf('^') + 1)).toBe('5'); // under conv5
  });

  it('any random text: a report of at most ~25 lines, in well under a second each', () => {
    fc.assert(
      fc.property(fc.string({ unit: 'binary', maxLength: 4000 }), (text) => {
        const lines = report(text).split('\n');
        expect(lines.length).toBeLessThanOrEqual(3 * MAX_REPORTED + 1);
      }),
      { numRuns: 150 },
    );
  });
});

describe('a model file that is not UTF-8 text is named in one line', () => {
  const one = (bytes: Uint8Array): string => {
    try {
      decodeSource('f.vgg', bytes);
    } catch (e) {
      expect(e).toBeInstanceOf(VggcError);
      const msgs = (e as VggcError).diagnostics.map((d) => d.message);
      expect(msgs).toHaveLength(1);
      expect(msgs[0]).not.toContain('\n');
      return msgs[0]!;
    }
    return '';
  };

  it('says what it looks like', async () => {
    const st = join(dir, 'w.safetensors');
    await writeSafetensors(st, [['a', { shape: [2], data: new Float32Array([1, 2]) }]]);
    const { readFileSync } = await import('node:fs');
    expect(one(readFileSync(st))).toMatch(/^f\.vgg: not a \.vgg model file: .*safetensors/);
    expect(one(encodeNpy([2], new Float32Array(2)))).toMatch(/NumPy \.npy/);
    expect(one(Buffer.from('\ufeffmodel m {}', 'utf16le'))).toMatch(/UTF-16/);
    expect(one(Buffer.from('model m { conv3-8 }\n', 'utf16le'))).toMatch(/UTF-16/);
    expect(one(new Uint8Array([0xfe, 0xff, 0, 0x6d]))).toMatch(/UTF-16/);
    expect(one(new Uint8Array([0x6d, 0x6f, 0, 0x65, 0x6c]))).toMatch(/NUL byte at offset 2/);
    expect(one(new Uint8Array([0x6d, 0x6f, 0xc3, 0x28]))).toMatch(
      /not UTF-8 \(an invalid byte at offset 2\)/,
    );
    expect(one(new Uint8Array([0x89, 0x50, 0x4e, 0x47, 13, 10]))).toMatch(/PNG/);
  });

  it('keeps UTF-8 text, dropping a byte order mark', () => {
    const text = 'model m { # \u00e9\u4e2d\ud83d\ude00\n}\n';
    const bytes = Buffer.concat([Buffer.from([0xef, 0xbb, 0xbf]), Buffer.from(text, 'utf8')]);
    expect(decodeSource('f.vgg', bytes).text).toBe(text);
    expect(describeNonText(Buffer.from(text))).toBeUndefined();
  });

  it('random bytes: a one-line refusal or UTF-8 text, decided at once', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 2000 }), (bytes) => {
        let utf8 = true;
        try {
          new TextDecoder('utf-8', { fatal: true }).decode(bytes);
        } catch {
          utf8 = false;
        }
        const said = one(bytes);
        if (!utf8 || bytes.includes(0)) expect(said).toMatch(/^f\.vgg: not a \.vgg model file/);
      }),
      { numRuns: 300 },
    );
  });

  it('5 MB of random bytes is refused in well under 20 s', () => {
    const bytes = Buffer.from(garbage(FIVE_MB, '\x00\x01abc\x80\xfe', 9), 'latin1');
    expect(seconds(() => one(bytes))).toBeLessThan(20);
  });
});

describe('only regular files are read', () => {
  const fifo = join(dir, 'fifo');
  execFileSync('mkfifo', [fifo]);
  const failure = async (p: Promise<unknown>) => {
    try {
      await p;
    } catch (e) {
      return (e as Error).message;
    }
    return 'no error';
  };

  // A FIFO with no writer would block open() forever: these tests would time out.
  it('refuses a FIFO, a directory and a device at once, by every reader', async () => {
    for (const [path, why] of [
      [fifo, 'is a named pipe (FIFO), not a regular file'],
      [dir, 'is a directory'],
      ['/dev/null', 'is a device, not a regular file'],
    ] as const) {
      const want = `${path}: cannot read: ${why}`;
      expect(await failure(openForRead(path))).toBe(want);
      expect(await failure(readRegularFile(path))).toBe(want);
      expect(await failure(Promise.resolve().then(() => readRegularFileSync(path)))).toBe(want);
      expect(await failure(readNpy(path))).toBe(want);
      const graph = checkSource({ name: 'm.vgg', text: 'model m {\ninput 1x4x4\nFC-2\n}\n' });
      expect(await failure(loadWeights(path, graph))).toBe(want);
    }
  }, 20_000);

  it('reads a regular file whole', async () => {
    const f = join(dir, 'plain.txt');
    writeFileSync(f, 'hello');
    expect((await readRegularFile(f)).toString()).toBe('hello');
    expect(readRegularFileSync(f).toString()).toBe('hello');
  });

  it('a FIFO among the images of a data folder is refused, not waited on', async () => {
    const d = join(dir, 'fifo-data');
    mkdirSync(join(d, 'a'), { recursive: true });
    execFileSync('mkfifo', [join(d, 'a', 'x.png')]);
    const ds = await loadFolder(d, { size: [4, 4], testFraction: 0 });
    expect(await failure(Promise.resolve(ds.train.image(0)))).toMatch(
      /x\.png: cannot read: is a named pipe/,
    );
  }, 20_000);
});

describe('a classifier ends in an FC layer', () => {
  it('refuses a model without an FC layer, at its last convolution', () => {
    const graph = checkSource({
      name: 'm.vgg',
      text: 'model m {\n  input 3x8x8\n  conv3-8, maxpool\n  conv3-16\n}\n',
    });
    const d = diagnosticsOf(() => classifierClasses(graph));
    expect(d).toHaveLength(1);
    expect(d[0]!.span).toMatchObject({ line: 4, col: 3 });
    expect(d[0]!.message).toMatch(/ends in 'conv3-16', not an FC layer/);
  });

  it('counts the classes of its last FC layer, through dropout and soft-max', () => {
    const graph = checkSource({
      name: 'm.vgg',
      text: 'model m {\n  input 3x8x8\n  conv3-8\n  FC-32, dropout 0.5\n  FC-7\n  soft-max\n}\n',
    });
    expect(classifierClasses(graph)).toBe(7);
  });

  it('refuses a model with no layers, at its name', () => {
    const d = diagnosticsOf(() =>
      checkSource({ name: 'm.vgg', text: 'model e {\n input 1x8x8\n}\n' }),
    );
    expect(d.map((x) => [x.span?.line, x.span?.col, x.message])).toEqual([
      [1, 7, "model 'e' has no layers: add some, e.g. 'conv3-64', 'maxpool', 'FC-10'"],
    ]);
  });
});

describe('dataset classes against the model, and held-out test splits', () => {
  async function npyFolder(name: string, labels: number[], classesTxt?: string[]) {
    const d = join(dir, name);
    mkdirSync(d, { recursive: true });
    const n = labels.length;
    const images = Float32Array.from({ length: n * 4 }, (_, i) => Math.sin(i + 1));
    await writeNpy(join(d, 'images.npy'), [n, 1, 2, 2], images);
    await writeNpy(join(d, 'labels.npy'), [n], Int32Array.from(labels));
    if (classesTxt) writeFileSync(join(d, 'classes.txt'), classesTxt.join('\n'));
    return d;
  }

  it('random labels: refused exactly when a label is outside the model classes', async () => {
    let run = 0;
    await fc.assert(
      fc.asyncProperty(
        fc.array(fc.integer({ min: 0, max: 30 }), { minLength: 1, maxLength: 40 }),
        fc.integer({ min: 1, max: 20 }),
        async (labels, classes) => {
          const ds = await loadFolder(await npyFolder(`labels-${run++}`, labels), {
            testFraction: 0,
          });
          const max = Math.max(...labels);
          if (max >= classes) {
            const d = diagnosticsOf(() => checkClasses(ds, classes, 'm'));
            expect(d).toHaveLength(1);
            expect(d[0]!.message).toContain(`has ${max + 1} classes (labels 0 to ${max})`);
          } else expect(() => checkClasses(ds, classes, 'm')).not.toThrow();
        },
      ),
      { numRuns: 25 },
    );
  });

  it('a folder naming more classes than the model has outputs is refused', async () => {
    const names = Array.from({ length: 12 }, (_, i) => `c${i}`);
    const ds = await loadFolder(await npyFolder('twelve', [0, 1, 2], names));
    expect(diagnosticsOf(() => checkClasses(ds, 10, 'm'))[0]!.message).toBe(
      `${ds.name} has 12 classes (labels 0 to 11), the model m 10 (its last layer is FC-10): ` +
        'give the model FC-12 or relabel the data',
    );
  });

  it('says how the test split was held out, with the counts; 0 holds out nothing', async () => {
    const labels = Array.from({ length: 50 }, (_, i) => i % 5);
    const d = await npyFolder('held', labels);
    const ds = await loadFolder(d);
    expect(ds.test.length + ds.train.length).toBe(50);
    expect(describeHeldOut(ds)).toBe(
      `${d}: no test/ folder: 20% of each class held out for testing (40 training, 10 test ` +
        'images); --test-fraction F to change it, 0 to train on all',
    );
    const all = await loadFolder(d, { testFraction: 0 });
    expect([all.train.length, all.test.length]).toEqual([50, 0]);
    expect(describeHeldOut(all)).toMatch(/training on all \(50 training, 0 test images\)/);
    const tiny = await loadFolder(await npyFolder('tiny', [0, 0, 1, 1]));
    expect(tiny.test.length).toBe(0); // 20% of 2 rounds to 0: the commands must say so
  });
});

describe('NaN and Inf on load', () => {
  const seen: string[] = [];
  onWarning((m) => seen.push(m));
  afterEach(() => void seen.splice(0));

  it('counts NaN and infinities', () => {
    const a = Float32Array.from({ length: 100 }, (_, i) => i - 50.5);
    a[3] = NaN;
    a[9] = Infinity;
    a[10] = -Infinity;
    expect(countNonFinite(a)).toEqual({ nan: 1, inf: 2 });
    expect(countNonFinite(Float32Array.from([1, -2, 3e38]))).toEqual({ nan: 0, inf: 0 });
  });

  it('warns once per file with the count, naming the tensors', async () => {
    const x = Float32Array.from({ length: 24 }, (_, i) => Math.cos(i));
    x[2] = NaN;
    x[5] = NaN;
    x[7] = -Infinity;
    const f = join(dir, 'x.npy');
    await writeNpy(f, [2, 3, 2, 2], x);
    await readNpy(f);
    expect(seen).toEqual([
      `${f}: 2 NaN and 1 infinite of 24 values; results computed from them will be NaN or Inf`,
    ]);
    seen.splice(0);
    await readNpy(join(dir, 'x.npy').replace('x.npy', 'x.npy')); // read again: warned again
    expect(seen).toHaveLength(1);
    seen.splice(0);
    expect(warnNonFinite('w', [['ok', new Float32Array(3)]])).toBe(0);
    expect(seen).toEqual([]);

    const graph = checkSource({ name: 'm.vgg', text: 'model m {\ninput 1x2x2\nFC-3\n}\n' });
    const w = join(dir, 'w.safetensors');
    const weight = Float32Array.from({ length: 12 }, (_, i) => i / 7);
    weight[4] = Infinity;
    await writeSafetensors(w, [
      ['classifier.0.weight', { shape: [3, 4], data: weight }],
      ['classifier.0.bias', { shape: [3], data: new Float32Array([0.1, NaN, 0.3]) }],
    ]);
    await loadWeights(w, graph);
    expect(seen).toHaveLength(1);
    expect(seen[0]).toMatch(/1 NaN and 1 infinite of 15 weights \(in classifier\.0\./);
  });
});

describe("Dawn's log lines", () => {
  it('drops the two lavapipe limit warnings and keeps anything else', () => {
    const log =
      'Warning: maxDynamicUniformBuffersPerPipelineLayout artificially reduced from 1000000 to 16 to fit dynamic offset allocation limit.\n' +
      'Warning: maxDynamicStorageBuffersPerPipelineLayout artificially reduced from 1000000 to 16 to fit dynamic offset allocation limit.\n' +
      'Error: vkCreateDevice failed\n';
    expect(dawnLinesToShow(log)).toEqual(['Error: vkCreateDevice failed']);
  });
});
