/**
 * The compiler's top level: a checked Graph -> passes -> KernelPlan for one target and batch.
 * runtime/ reaches the passes only through these entries (it imports nothing from passes/).
 */
import type { Chooser } from './algorithms.js';
import type { Graph, Shape } from './ir.js';
import { autodiff } from './passes/autodiff.js';
import { denseGraph, fcToConv, minDenseInput } from './passes/fc-to-conv.js';
import {
  removeDropoutPass,
  fusionPasses,
  runPasses,
  type FuseOption,
  type Pass,
  type PassInstrument,
} from './passes/index.js';
import { setOutput, type OutputKind } from './passes/output-head.js';
import { setDropout } from './passes/set-dropout.js';
import type { KernelPlan } from './plan.js';
import { printGraph } from './print-graph.js';
import { schedule } from './schedule.js';
import type { TypedGraph } from './shapes.js';
import type { TargetInfo } from './wgsl/kernel.js';

export type { FuseOption, OutputKind, PassInstrument };
export { setDropout };

export interface CompileOptions {
  readonly target: TargetInfo;
  /** Batch size N the kernels are specialised on (default 1). */
  readonly batch?: number;
  /** Fusion switches: true (default) all, false none, or a list of fusion names. */
  readonly fuse?: FuseOption;
  /** 'logits' (default): drop a trailing soft-max; 'probs': end in soft-max. */
  readonly output?: OutputKind;
  /** Sees the graph after every pass (compiler/passes/index.ts `runPasses`). */
  readonly instrument?: PassInstrument;
  /** The algorithm of each layer (compiler/algorithms.ts); default: the direct kernels. */
  readonly choose?: Chooser;
}

/** The inference passes: the output head, dropout removal, the selected fusions. */
function inferencePasses(options: Pick<CompileOptions, 'fuse' | 'output'>): Pass<TypedGraph>[] {
  const output = options.output ?? 'logits';
  return [
    { name: 'output-head', run: (g: TypedGraph) => setOutput(g, output) },
    removeDropoutPass<TypedGraph>(),
    ...fusionPasses<TypedGraph>(options.fuse ?? true),
  ];
}

/**
 * The graph an inference plan is scheduled from: the output head set, dropout removed (it is the
 * identity at test time), the selected fusions applied. Shapes are those of `graph`.
 */
export function forInference(
  graph: TypedGraph,
  options: Pick<CompileOptions, 'fuse' | 'output' | 'instrument'> = {},
): TypedGraph {
  return runPasses(graph, inferencePasses(options), options.instrument);
}

export function compileInference(graph: TypedGraph, options: CompileOptions): KernelPlan {
  return schedule(forInference(graph, options), {
    batch: options.batch ?? 1,
    target: options.target,
    ...(options.choose ? { choose: options.choose } : {}),
  });
}

export interface TrainCompileOptions {
  readonly target: TargetInfo;
  readonly batch: number;
  readonly fuse?: FuseOption;
  /** Every dropout layer at this probability (0: none); absent: as the model says. */
  readonly dropout?: number;
  readonly instrument?: PassInstrument;
  /** The algorithm of each layer (compiler/algorithms.ts); default: the direct kernels. */
  readonly choose?: Chooser;
}

/** The training passes: the dropout probability, autodiff, the selected fusions. */
function trainingPasses(
  options: Pick<TrainCompileOptions, 'fuse' | 'dropout'>,
): Pass<TypedGraph>[] {
  const p = options.dropout;
  return [
    ...(p === undefined ? [] : [{ name: 'set-dropout', run: (g: TypedGraph) => setDropout(g, p) }]),
    { name: 'autodiff', run: autodiff },
    ...fusionPasses<TypedGraph>(options.fuse ?? true),
  ];
}

/**
 * The training step as one plan: autodiff appends the backward graph and the optimiser to the
 * model, the fusions rewrite forward and backward alike, and the scheduler emits every kernel.
 */
export function compileTraining(graph: TypedGraph, options: TrainCompileOptions): KernelPlan {
  const g = runPasses(graph, trainingPasses(options), options.instrument);
  return schedule(g, {
    batch: options.batch,
    target: options.target,
    ...(options.choose ? { choose: options.choose } : {}),
  });
}

/** One numbered text file of `passDumps`: `03-conv-relu.txt`. */
export interface PassDump {
  readonly file: string;
  readonly text: string;
}

/**
 * The graph as it enters the pipeline (`00-input.txt`) and after each pass (`01-output-head.txt`,
 * ...), printed (compiler/print.ts): what `vggc compile --dump-passes DIR` writes.
 */
export function passDumps(
  graph: TypedGraph,
  options: Pick<TrainCompileOptions, 'fuse' | 'dropout'> & {
    readonly train?: boolean;
    readonly output?: OutputKind;
  } = {},
): PassDump[] {
  const dump = (name: string, index: number, g: Graph): PassDump => ({
    file: `${String(index).padStart(2, '0')}-${name}.txt`,
    text: printGraph(g),
  });
  const dumps = [dump('input', 0, graph)];
  const instrument: PassInstrument = (name, i, g) => dumps.push(dump(name, i, g));
  if (options.train) runPasses(graph, trainingPasses(options), instrument);
  else runPasses(graph, inferencePasses(options), instrument);
  return dumps;
}

/** What dense evaluation (runtime/dense.ts, runtime/eval.ts) needs of the compiler. */
export interface DenseCompilation {
  /** The smallest input `[C, H, W]`: it gives a 1x1 class score map. */
  readonly minInput: Shape;
  /** Channels of the score map (the number of classes). */
  readonly classes: number;
  /**
   * The fully convolutional graph typed for `input` ([C, H, W]), ending at the score map
   * `[classes, h, w]`. A wrong channel count or an input smaller than `minInput` is a VggcError.
   * Kept per input size.
   */
  graphAt(input: Shape): TypedGraph;
  /** The plan of `graphAt(input)` (output: logits, the score map). */
  plan(input: Shape, options: Omit<CompileOptions, 'output'>): KernelPlan;
}

/**
 * Dense evaluation (the VGG paper's Section 3.2, compiler/passes/fc-to-conv.ts): `graph` is the
 * model typed at its declared input, FCs converted or not (a first FC reading a non-square map
 * becomes a kh x kw conv).
 */
export function compileDense(graph: TypedGraph): DenseCompilation {
  let dense = denseCompilations.get(graph);
  if (!dense) denseCompilations.set(graph, (dense = compileDenseOnce(graph)));
  return dense;
}

/** One dense compilation per graph object (graphs are immutable): callers share its retypings. */
const denseCompilations = new WeakMap<TypedGraph, DenseCompilation>();

function compileDenseOnce(graph: TypedGraph): DenseCompilation {
  const converted = runPasses(graph, [
    { name: 'fc-to-conv', run: fcToConv },
    { name: 'output-head', run: (g) => setOutput(g, 'logits') },
  ]);
  const [minH, minW] = minDenseInput(converted);
  const graphs = new Map<string, TypedGraph>();
  const graphAt = (input: Shape): TypedGraph => {
    const key = input.join('x');
    let g = graphs.get(key);
    if (!g) {
      g = denseGraph(converted, input);
      graphs.set(key, g);
    }
    return g;
  };
  return {
    minInput: [converted.nodes[0]!.out[0], minH, minW],
    classes: converted.nodes.at(-1)!.out[0],
    graphAt,
    plan: (input, options) => compileInference(graphAt(input), { ...options, output: 'logits' }),
  };
}
