/**
 * The harness's variant skipping (test/gpu-harness.ts): a kernel variant that the adapter cannot
 * run must be reported as skipped, with its reason, never run and never counted as passed.
 * No GPU is needed: the adapter is a stand-in that states only whether it has subgroups.
 */
import { describe, expect, it, type TestContext } from 'vitest';
import type { Gpu } from '../runtime/device.js';
import { skipUnsupported, variantIt, whyUnsupported } from './gpu-harness.js';

const adapter = (subgroups: boolean): Gpu => ({ subgroups }) as Gpu;

describe('whyUnsupported', () => {
  it('names the missing feature, and nothing when the adapter has it or it is not needed', () => {
    expect(whyUnsupported(adapter(false), { subgroups: true })).toMatch(/no subgroups/);
    expect(whyUnsupported(adapter(true), { subgroups: true })).toBeUndefined();
    expect(whyUnsupported(adapter(false), { subgroups: false })).toBeUndefined();
    expect(whyUnsupported(adapter(false), {})).toBeUndefined();
  });
});

describe('skipUnsupported', () => {
  /** A stand-in for vitest's test context: `skip(true, why)` stops the test, as vitest's does. */
  const context = () => {
    const calls: { skip: boolean; why?: string }[] = [];
    const ctx = {
      skip: (condition: boolean, why?: string) => {
        calls.push({ skip: condition, ...(why !== undefined ? { why } : {}) });
        if (condition) throw new Error('skipped');
      },
    } as unknown as TestContext;
    return { ctx, calls };
  };

  it('skips an unsupported variant with its reason, before its body can run', () => {
    const { ctx, calls } = context();
    let ran = false;
    expect(() => {
      skipUnsupported(ctx, adapter(false), { subgroups: true });
      ran = true;
    }).toThrow('skipped');
    expect(ran).toBe(false);
    expect(calls).toEqual([{ skip: true, why: expect.stringMatching(/no subgroups/) }]);
  });

  it('lets supported and plain variants run', () => {
    for (const [has, needs] of [
      [true, { subgroups: true }],
      [false, { subgroups: false }],
      [false, {}],
    ] as const) {
      const { ctx, calls } = context();
      skipUnsupported(ctx, adapter(has), needs);
      expect(calls.every((c) => !c.skip)).toBe(true);
    }
  });
});

describe('variantIt', () => {
  const ran: string[] = [];
  variantIt(adapter(true), { subgroups: true })(
    'a subgroup variant on an adapter with them',
    async () => {
      ran.push('supported');
    },
  );
  variantIt(adapter(false), { subgroups: false })('a plain variant on any adapter', async () => {
    ran.push('plain');
  });

  it('ran the variants it registered', () => {
    expect(ran).toEqual(['supported', 'plain']);
  });
});
