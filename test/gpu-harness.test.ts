/**
 * The harness's variant skipping (test/gpu-harness.ts): a kernel variant that the adapter cannot
 * run must be reported as skipped, with its reason, never run and never counted as passed.
 * No GPU is needed: the adapter is a stand-in that states only whether it has subgroups.
 */
import { describe, expect, it } from 'vitest';
import type { Gpu } from '../runtime/device.js';
import { variantIt, whyUnsupported } from './gpu-harness.js';

const adapter = (subgroups: boolean): Gpu => ({ subgroups }) as Gpu;

describe('whyUnsupported', () => {
  it('names the missing feature, and nothing when the adapter has it or it is not needed', () => {
    expect(whyUnsupported(adapter(false), { subgroups: true })).toMatch(/no subgroups/);
    expect(whyUnsupported(adapter(true), { subgroups: true })).toBeUndefined();
    expect(whyUnsupported(adapter(false), { subgroups: false })).toBeUndefined();
    expect(whyUnsupported(adapter(false), {})).toBeUndefined();
  });
});

describe('variantIt', () => {
  const ran: string[] = [];
  // This one shows as SKIPPED in the report ("the adapter has no subgroups"): its body must not run.
  variantIt(adapter(false), { subgroups: true })(
    'a subgroup variant on an adapter without them',
    async () => {
      ran.push('unsupported');
      throw new Error('an unsupported variant ran');
    },
  );
  variantIt(adapter(true), { subgroups: true })(
    'a subgroup variant on an adapter with them',
    async () => {
      ran.push('supported');
    },
  );
  variantIt(adapter(false), { subgroups: false })('a plain variant on any adapter', async () => {
    ran.push('plain');
  });

  it('ran the supported variants only', () => {
    expect(ran).toEqual(['supported', 'plain']);
  });
});
