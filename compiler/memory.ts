/**
 * The memory plan: activations and scratch tensors share GPU buffers by liveness.
 *
 * Tensors are visited in the order steps first write them. A tensor whose last reader has run
 * frees its buffer; a new tensor takes the smallest free buffer that holds it, else grows the
 * largest free one, else gets a new buffer. Peak memory is the sum of the buffers' sizes.
 */

export interface Lifetime {
  readonly tensor: string;
  readonly bytes: number;
  /** Index of the first step that writes the tensor (-1: written by the host before step 0). */
  readonly first: number;
  /** Index of the last step that reads it (Infinity: read by the host after the last step). */
  readonly last: number;
}

export interface MemoryPlan {
  /** Buffer sizes in bytes, by buffer index. */
  readonly buffers: readonly number[];
  /** Which buffer each tensor lives in. */
  readonly assignment: ReadonlyMap<string, number>;
  readonly peakBytes: number;
}

export function planMemory(lifetimes: readonly Lifetime[]): MemoryPlan {
  const order = [...lifetimes].sort((a, b) => a.first - b.first);
  const sizes: number[] = [];
  const busyUntil: number[] = [];
  const assignment = new Map<string, number>();
  for (const t of order) {
    const free = sizes.map((_, i) => i).filter((i) => busyUntil[i]! < t.first);
    const fitting = free.filter((i) => sizes[i]! >= t.bytes).sort((a, b) => sizes[a]! - sizes[b]!);
    let buf = fitting[0];
    if (buf === undefined && free.length > 0) {
      buf = free.sort((a, b) => sizes[b]! - sizes[a]!)[0]!;
      sizes[buf] = t.bytes;
    }
    if (buf === undefined) {
      buf = sizes.length;
      sizes.push(t.bytes);
      busyUntil.push(t.last);
    }
    busyUntil[buf] = t.last;
    assignment.set(t.tensor, buf);
  }
  return { buffers: sizes, assignment, peakBytes: sizes.reduce((s, b) => s + b, 0) };
}
