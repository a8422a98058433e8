/** Small graph-editing helpers shared by the passes. Graphs are immutable: each returns a new one. */
import type { Graph, Node } from '../ir.js';

/** Ids of the nodes that read `id`. */
export function consumers(g: Graph, id: number): Node[] {
  return g.nodes.filter((n) => n.inputs.includes(id));
}

/**
 * Removes node `id`, which must have exactly one input, and makes its consumers read that input.
 */
export function bypass<G extends Graph>(g: G, id: number): G {
  const victim = g.nodes.find((n) => n.id === id);
  if (!victim || victim.inputs.length !== 1) throw new Error(`internal: cannot bypass node ${id}`);
  const source = victim.inputs[0]!;
  const nodes = g.nodes
    .filter((n) => n.id !== id)
    .map((n) =>
      n.inputs.includes(id) ? { ...n, inputs: n.inputs.map((i) => (i === id ? source : i)) } : n,
    );
  return { ...g, nodes } as G;
}

/** Replaces node `id` with `f(node)`. */
export function replaceNode<G extends Graph>(
  g: G,
  id: number,
  f: (n: G['nodes'][number]) => G['nodes'][number],
): G {
  return { ...g, nodes: g.nodes.map((n) => (n.id === id ? f(n) : n)) } as G;
}
