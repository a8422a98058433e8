/**
 * Property tests for the checker: whatever the text, `checkSource` either returns a typed graph
 * or throws a VggcError whose every diagnostic has a position inside the text. Never a crash.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { checkSource } from '../compiler/frontend.js';
import { VggcError } from '../dsl/diagnostics.js';

const layer = fc.oneof(
  fc
    .tuple(fc.constantFrom(0, 1, 2, 3, 5), fc.integer({ min: 0, max: 70000 }))
    .map(([k, c]) => `conv${k}-${c}`),
  fc.constant('maxpool'),
  fc.integer({ min: 0, max: 5000 }).map((u) => `FC-${u}`),
  fc.double({ min: -1, max: 2, noNaN: true }).map((p) => `dropout ${p.toFixed(2)}`),
  fc.constantFrom(
    'LRN',
    'LRN(n=3)',
    'LRN(k=0)',
    'LRN(n=0, beta=2)',
    'soft-max',
    'softmax',
    'relu',
    'pool',
  ),
);
const item = fc.oneof(
  { weight: 4, arbitrary: layer },
  {
    weight: 1,
    arbitrary: fc.tuple(layer, fc.integer({ min: -1, max: 4 })).map(([l, n]) => `${l} x${n}`),
  },
  {
    weight: 1,
    arbitrary: fc
      .tuple(fc.array(layer, { maxLength: 3 }), fc.integer({ min: 0, max: 3 }))
      .map(([ls, n]) => `(${ls.join(', ')}) x${n}`),
  },
);
const input = fc.oneof(
  fc.constant(''),
  fc
    .tuple(
      fc.integer({ min: 0, max: 5 }),
      fc.integer({ min: 0, max: 300 }),
      fc.integer({ min: 0, max: 300 }),
    )
    .map(([c, h, w]) => `input ${c}x${h}x${w}\n`),
);
const settings = fc.constantFrom(
  '',
  'train { batch 8; lr 0.1 }\n',
  'train { batch 0 }\n',
  'test { scales 1, 2; flip }\n',
  'test { speed 3 }\n',
  'train { scale 40..20 }\n',
);
const program = fc
  .tuple(input, settings, fc.array(item, { maxLength: 12 }), fc.constantFrom(',', '\n'))
  .map(([i, s, items, sep]) => `model m {\n${i}${s}${items.join(sep)}\n}\n`);

function checkNeverCrashes(text: string): void {
  try {
    const g = checkSource({ name: 'f.vgg', text });
    expect(g.nodes.every((n) => n.out.every((d) => Number.isInteger(d) && d >= 1))).toBe(true);
  } catch (e) {
    if (!(e instanceof VggcError)) throw e;
    expect(e.diagnostics.length).toBeGreaterThan(0);
    for (const d of e.diagnostics) {
      // Model selection errors concern the file as a whole; every other one has a place.
      if (/defines (no|\d+) model/.test(d.message)) continue;
      expect(d.span, d.message).toBeDefined();
      expect(d.span!.line).toBeGreaterThanOrEqual(1);
      expect(d.span!.col).toBeGreaterThanOrEqual(1);
      expect(d.span!.offset).toBeLessThanOrEqual(text.length);
    }
  }
}

describe('the checker never crashes', () => {
  it('on random layer sequences', () => {
    fc.assert(fc.property(program, checkNeverCrashes), { numRuns: 400 });
  });

  it('on random text', () => {
    fc.assert(fc.property(fc.string({ maxLength: 200 }), checkNeverCrashes), { numRuns: 300 });
  });

  it('on random bytes', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 200 }), (bytes) =>
        checkNeverCrashes(Buffer.from(bytes).toString('latin1')),
      ),
      { numRuns: 300 },
    );
  });
});
