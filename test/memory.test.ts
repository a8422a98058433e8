/** The liveness-based memory plan. */
import { describe, expect, it } from 'vitest';
import { planMemory, type Lifetime } from '../compiler/memory.js';

/** No two tensors alive at the same step share a buffer, and each fits its buffer. */
function checkValid(ts: Lifetime[]) {
  const plan = planMemory(ts);
  for (const a of ts) {
    const buf = plan.assignment.get(a.tensor)!;
    expect(plan.buffers[buf]!).toBeGreaterThanOrEqual(a.bytes);
    for (const b of ts) {
      if (a === b || plan.assignment.get(b.tensor) !== buf) continue;
      const overlap = a.first <= b.last && b.first <= a.last;
      expect(overlap, `${a.tensor} and ${b.tensor} share buffer ${buf} while both alive`).toBe(
        false,
      );
    }
  }
  return plan;
}

describe('memory plan', () => {
  it('ping-pongs a chain of layers between two buffers', () => {
    // t0 -> step0 -> t1 -> step1 -> t2 ... each tensor read by the next step only.
    const ts: Lifetime[] = [100, 80, 60, 40, 20].map((bytes, i) => ({
      tensor: `t${i}`,
      bytes,
      first: i - 1,
      last: i === 4 ? Infinity : i,
    }));
    const plan = checkValid(ts);
    expect(plan.buffers).toHaveLength(2);
    expect(plan.peakBytes).toBe(100 + 80);
  });

  it('never shares a buffer between a step input and its output', () => {
    const ts: Lifetime[] = [
      { tensor: 'a', bytes: 10, first: -1, last: 0 },
      { tensor: 'b', bytes: 10, first: 0, last: 1 },
      { tensor: 'scratch', bytes: 50, first: 1, last: 1 },
      { tensor: 'c', bytes: 10, first: 1, last: Infinity },
    ];
    const plan = checkValid(ts);
    expect(plan.assignment.get('c')).not.toBe(plan.assignment.get('scratch'));
  });

  it('is valid on random lifetimes', () => {
    let seed = 99;
    const rnd = (n: number) => (seed = (seed * 1103515245 + 12345) >>> 0) % n;
    for (let trial = 0; trial < 50; trial++) {
      const ts: Lifetime[] = Array.from({ length: 12 }, (_, i) => {
        const first = rnd(10) - 1;
        return { tensor: `t${i}`, bytes: 1 + rnd(1000), first, last: first + rnd(4) };
      });
      checkValid(ts);
    }
  });
});
