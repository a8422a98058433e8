/**
 * The graph verifier: run after every pass (compiler/passes/index.ts `runPasses`), it checks the
 * invariants every pass may rely on and must keep, so that a pass that breaks the graph is named
 * at once instead of a kernel computing nonsense later:
 *
 * - ids: every node id is unique;
 * - order: every input names a node that comes earlier (the list is topological);
 * - arity: every op reads as many inputs as it takes;
 * - shapes: each recorded shape equals the one re-inferred from the inputs (forward ops as
 *   compiler/shapes.ts infers them, training ops by their gradient rules); a graph is typed
 *   throughout or not at all;
 * - epilogues: a conv's is [relu?, maxpool?], an FC's [relu?, dropout?], in that order, each
 *   step once, and dropout only in a training graph;
 * - parameters: every conv and FC names its parameters (`param`), each name once, and only a
 *   conv is marked as made from an FC (`fromFc`); every gradient
 *   node that needs parameters names a layer of the graph, and so does every optimiser entry;
 *   every dropout gradient regenerates the mask of a dropout of the graph.
 *
 * A failure is an internal error (a bug in a pass, never the user's), naming the pass.
 */
import { describe } from './lower.js';
import {
  formatShape,
  isTrainingOp,
  NO_ACTIVATION,
  type Graph,
  type Node,
  type Shape,
} from './ir.js';
import { outputShape } from './shapes.js';

/** Throws `internal: after pass 'after': ...` at the first broken invariant of `g`. */
export function verifyGraph(g: Graph, after: string): void {
  const problem = findProblem(g);
  if (problem) throw new Error(`internal: after pass '${after}', graph ${g.name}: ${problem}`);
}

/** The first broken invariant of `g`, in words; undefined when it holds them all. */
export function findProblem(g: Graph): string | undefined {
  const seen = new Map<number, Node>();
  const typed = g.nodes.filter((n) => n.out).length;
  if (typed !== 0 && typed !== g.nodes.length) return 'some nodes have shapes and some do not';
  const training = g.nodes.some((n) => isTrainingOp(n.op));
  const layers = new Map<string, Node>();
  for (const n of g.nodes) {
    const what = `node ${n.id} (${describe(n.op)})`;
    if (seen.has(n.id)) return `${what}: the id ${n.id} is used twice`;
    for (const i of n.inputs) {
      if (!seen.has(i)) {
        const later = g.nodes.some((m) => m.id === i);
        return `${what} reads node ${i}, ${later ? 'which comes after it' : 'which does not exist'}`;
      }
    }
    const arity = arityOf(n);
    if (n.inputs.length !== arity) {
      return `${what} has ${n.inputs.length} input(s), its op takes ${arity}`;
    }
    const fromFc = n.fromFc && n.op.op !== 'conv' ? 'marked fromFc but not a conv' : undefined;
    const bad = fromFc ?? epilogueProblem(n, training) ?? paramProblem(n, seen, layers);
    if (bad) return `${what}: ${bad}`;
    if (typed) {
      const ins = n.inputs.map((i) => seen.get(i)!.out!);
      const want = reinfer(n, ins, seen, layers);
      if (want && !sameShape(want, n.out!)) {
        return `${what} records shape ${formatShape(n.out!)}, its inputs give ${formatShape(want)}`;
      }
    }
    seen.set(n.id, n);
    if ((n.op.op === 'conv' || n.op.op === 'fc') && n.param) layers.set(n.param, n);
  }
  return undefined;
}

function arityOf(n: Node): number {
  const op = n.op;
  switch (op.op) {
    case 'input':
      return 0;
    case 'relu-grad':
    case 'maxpool-grad':
    case 'lrn-grad':
    case 'conv-grad-weight':
    case 'fc-grad-weight':
      return 2;
    case 'conv-grad-data':
    case 'fc-grad-data':
      return op.mask ? 2 : 1;
    case 'sgd':
      return op.params.length;
    default:
      return 1;
  }
}

/** The legal epilogues, as step kinds in order. */
const EPILOGUES = {
  conv: ['', 'relu', 'maxpool', 'relu,maxpool'],
  fc: ['', 'relu', 'dropout', 'relu,dropout'],
};

function epilogueProblem(n: Node, training: boolean): string | undefined {
  const op = n.op;
  if (op.op !== 'conv' && op.op !== 'fc') return undefined;
  const steps = op.epilogue.map((s) => s.kind).join(',');
  if (!EPILOGUES[op.op].includes(steps)) return `illegal epilogue [${steps}]`;
  if (steps.includes('dropout') && !training) return 'a dropout epilogue in an inference graph';
  return undefined;
}

function paramProblem(
  n: Node,
  seen: ReadonlyMap<number, Node>,
  layers: ReadonlyMap<string, Node>,
): string | undefined {
  const op = n.op;
  switch (op.op) {
    case 'conv':
    case 'fc':
      if (!n.param) return 'has no parameter name';
      if (layers.has(n.param)) return `parameters '${n.param}' are named twice`;
      return undefined;
    case 'conv-grad-data':
    case 'conv-grad-weight':
    case 'fc-grad-data':
    case 'fc-grad-weight': {
      const kind = op.op.startsWith('conv') ? 'conv' : 'fc';
      const layer = n.param === undefined ? undefined : layers.get(n.param);
      if (layer?.op.op !== kind) return `names no ${kind} layer of the graph ('${n.param}')`;
      return undefined;
    }
    case 'sgd': {
      const missing = op.params.find((p) => !layers.has(p));
      if (missing !== undefined) return `updates '${missing}', which no layer of the graph has`;
      const grads = n.inputs.map((i) => seen.get(i)!);
      const wrong = grads.find(
        (x) => x.op.op !== 'conv-grad-weight' && x.op.op !== 'fc-grad-weight',
      );
      if (wrong) return `reads node ${wrong.id}, not a weight gradient`;
      return undefined;
    }
    case 'dropout-grad': {
      const { stream } = op;
      const ok =
        seen.get(stream)?.op.op === 'dropout' ||
        [...seen.values()].some(
          (m) =>
            m.op.op === 'fc' && m.op.epilogue.some((s) => 'stream' in s && s.stream === stream),
        );
      return ok ? undefined : `regenerates the mask of dropout ${stream}, which the graph lacks`;
    }
    default:
      return undefined;
  }
}

/** The shape `n` must have given its inputs' shapes; undefined where nothing can be said. */
function reinfer(
  n: Node,
  ins: readonly Shape[],
  seen: ReadonlyMap<number, Node>,
  layers: ReadonlyMap<string, Node>,
): Shape | undefined {
  const op = n.op;
  const x = ins[0]!;
  switch (op.op) {
    case 'xent-grad':
    case 'softmax-xent':
    case 'dropout-grad':
      return x;
    case 'relu-grad':
      return ins[1];
    case 'maxpool-grad':
    case 'lrn-grad':
      return x;
    case 'conv-grad-data':
    case 'fc-grad-data': {
      // The forward layer's input.
      const layer = layers.get(n.param!)!;
      return seen.get(layer.inputs[0]!)?.out;
    }
    case 'conv-grad-weight':
    case 'fc-grad-weight':
    case 'sgd':
      return NO_ACTIVATION; // parameter-sized outputs
    default:
      return outputShape(n, ins, []);
  }
}

const sameShape = (a: Shape, b: Shape) => a.every((d, i) => d === b[i]);
