/**
 * Scheduling: a typed, optimised Graph -> KernelPlan (compiler/plan.ts), the list of dispatches
 * the runtime encodes into one command buffer, the tensors they bind, and the memory plan for
 * the activations.
 *
 * One loop over the graph: every node becomes what the lowering rule of its op returns
 * (compiler/lowering/forward.ts and training.ts), the kernels its WGSL generator emits for the
 * node's constant shapes (fused steps travel in the node's epilogue) and the plan tensors they
 * bind: activations `act<id>`, the batch `input`, parameters by their torchvision names
 * (`features.0.weight`).
 *
 * A training plan also gets its training layout: every parameter, its gradient and its momentum
 * live in three flat buffers ('params', 'grads', 'momenta') at the same offsets, each tensor
 * starting on the adapter's storage-offset alignment, so the layers bind their own tensor as a
 * view and the fused optimiser updates all of them in one pass. Small host-written or host-read
 * tensors ('labels', 'loss', 'correct', the optimiser's 'hyper' parameters and each dropout
 * layer's seed block) have buffers of their own.
 */
import { directChooser, type Chooser } from './algorithms.js';
import { VggcError, error } from '../dsl/diagnostics.js';
import { isTrainingOp, type Op, type TypedNode } from './ir.js';
import { forwardRules } from './lowering/forward.js';
import type { LowerContext, Rule, Rules } from './lowering/rule.js';
import { prod } from './lowering/rule.js';
import { trainingRules } from './lowering/training.js';
import { describe } from './lower.js';
import { planMemory, type Lifetime } from './memory.js';
import { paramList, paramNames, type NodeParams } from './params.js';
import {
  dropoutParams,
  gradName,
  momentumName,
  type FlatEntry,
  type KernelPlan,
  type PlanStep,
  type PlanTensor,
  type TrainingLayout,
} from './plan.js';
import type { TypedGraph } from './shapes.js';
import type { TargetInfo } from './wgsl/kernel.js';
import { lcm } from './wgsl/template.js';

export interface ScheduleOptions {
  readonly batch: number;
  readonly target: TargetInfo;
  /** The algorithm of each layer (compiler/algorithms.ts); default: the direct kernels. */
  readonly choose?: Chooser;
}

/** The lowering rule of every op. */
export const RULES: Rules<Op['op']> = { ...forwardRules, ...trainingRules };

export function schedule(graph: TypedGraph, options: ScheduleOptions): KernelPlan {
  const { batch: n, target } = options;
  const choose = options.choose ?? directChooser;
  const training = graph.nodes.some((node) => isTrainingOp(node.op));
  const byId = new Map(graph.nodes.map((node) => [node.id, node]));
  const byParam = new Map<string, NodeParams>();
  for (const [id, p] of paramNames(graph)) byParam.set(byId.get(id)!.param!, p);
  const flat = training
    ? flatLayout(
        paramList(graph).map((p) => ({ name: p.name, bytes: 4 * prod(p.shape) })),
        target,
      )
    : [];
  const tensors = new Map<string, PlanTensor>();
  const actName = new Map<number, string>();
  const dropout: { tensor: string; stream: number }[] = [];
  const steps: PlanStep[] = [];

  const tensor = (name: string, kind: PlanTensor['kind'], shape: number[], bytes?: number) => {
    const t = { name, kind, shape, bytes: bytes ?? 4 * prod(shape) };
    const whole = kind === 'activation' || kind === 'input' || kind === 'scratch';
    if (t.bytes > target.maxStorageBufferBindingSize && whole) {
      throw new VggcError(
        error(
          `tensor ${name} [${shape.join(', ')}] needs ${mib(t.bytes)} MiB, over this adapter's ` +
            `${mib(target.maxStorageBufferBindingSize)} MiB storage binding limit: use a smaller batch`,
        ),
      );
    }
    tensors.set(name, t);
    return name;
  };
  const params = (node: TypedNode, param = node.param): NodeParams => {
    const p = param === undefined ? undefined : byParam.get(param);
    if (!p) throw new Error(`internal: ${node.op.op} node ${node.id} has no parameters '${param}'`);
    return p;
  };

  const allParams = [...byParam.keys()];
  for (const node of graph.nodes) {
    const ctx: LowerContext = {
      n,
      target,
      training,
      node,
      allParams,
      flat,
      choose,
      input: (i) => {
        const src = byId.get(node.inputs[i]!);
        if (!src) throw new Error(`internal: node ${node.id} reads a missing node`);
        return src;
      },
      act: (id) => {
        const name = actName.get(id);
        if (!name) throw new Error(`internal: node ${id} has no activation`);
        return name;
      },
      out: () => {
        const input = node.op.op === 'input';
        const name = tensor(input ? 'input' : `act${node.id}`, input ? 'input' : 'activation', [
          n,
          ...node.out,
        ]);
        actName.set(node.id, name);
        return name;
      },
      tensor,
      scratch: (list) =>
        Object.fromEntries(
          list.map((s) => [
            s.tensor,
            tensor(`scratch${node.id}.${s.tensor}`, 'scratch', [s.bytes / 4], s.bytes),
          ]),
        ),
      params: (param) => params(node, param),
      weights: () => {
        const { weight, bias } = params(node);
        return {
          w: tensor(weight.name, 'param', [...weight.shape]),
          b: tensor(bias.name, 'param', [...bias.shape]),
        };
      },
      grads: () => {
        const { weight, bias } = params(node);
        const grad = (t: typeof weight) => tensor(gradName(t.name), 'grad', [...t.shape]);
        return { dw: grad(weight), db: grad(bias) };
      },
      seed: (stream) => {
        const name = dropoutParams(stream);
        if (!tensors.has(name)) dropout.push({ tensor: name, stream });
        return tensor(name, 'host', [4]);
      },
    };
    const rule = RULES[node.op.op] as Rule<Op>;
    const label =
      describe(node.op) +
      ('epilogue' in node.op ? node.op.epilogue.map((s) => `+${s.kind}`).join('') : '');
    for (const { kernels, bind, algorithm } of [rule(ctx)].flat()) {
      for (const kernel of kernels) {
        steps.push({ kernel, node: node.id, label, bind, ...(algorithm ? { algorithm } : {}) });
      }
    }
  }

  const layout = training ? { entries: flat, flatBytes: flatBytes(flat), dropout } : undefined;
  if (layout) placeFlat(tensors, layout);
  const last = graph.nodes.filter((node) => !isTrainingOp(node.op)).at(-1)!;
  const output = training ? 'loss' : actName.get(last.id)!;
  const memory = planMemory(lifetimes(steps, tensors, output));
  const paramBytes = [...tensors.values()]
    .filter((t) => t.kind === 'param')
    .reduce((s, t) => s + t.bytes, 0);
  return {
    model: graph.name,
    batch: n,
    input: graph.nodes[0]!.out,
    tensors: [...tensors.values()],
    steps,
    output,
    outputShape: training ? [1, 1, 1] : last.out,
    memory,
    paramBytes,
    ...(layout ? { training: layout } : {}),
  };
}

/** Places the parameters of `params` (in order) in the flat buffers. */
export function flatLayout(
  params: readonly { name: string; bytes: number }[],
  target: TargetInfo,
): FlatEntry[] {
  const align = lcm(target.minStorageBufferOffsetAlignment, 256);
  let offset = 0;
  return params.map((p) => {
    const e = { name: p.name, offsetBytes: offset, bytes: p.bytes };
    offset = Math.ceil((offset + p.bytes) / align) * align;
    return e;
  });
}

const flatBytes = (entries: readonly FlatEntry[]): number => {
  const end = entries.at(-1);
  return end ? Math.ceil((end.offsetBytes + end.bytes) / 16) * 16 : 16;
};

/**
 * Training layout: parameters, their gradients and momenta become views into the three flat
 * buffers, at the offsets of `layout`.
 */
function placeFlat(tensors: Map<string, PlanTensor>, layout: TrainingLayout): void {
  for (const e of layout.entries) {
    const param = tensors.get(e.name)!;
    const views: [string, PlanTensor['kind'], string][] = [
      [e.name, 'param', 'params'],
      [gradName(e.name), 'grad', 'grads'],
      [momentumName(e.name), 'state', 'momenta'],
    ];
    for (const [name, kind, of] of views) {
      tensors.set(name, { ...param, name, kind, view: { of, offsetBytes: e.offsetBytes } });
    }
  }
  for (const name of ['params', 'grads', 'momenta']) {
    tensors.set(name, {
      name,
      kind: 'flat',
      shape: [layout.flatBytes / 4],
      bytes: layout.flatBytes,
    });
  }
}

/** First write and last read of every activation, input and scratch tensor. */
function lifetimes(
  steps: readonly PlanStep[],
  tensors: Map<string, PlanTensor>,
  output: string,
): Lifetime[] {
  const first = new Map<string, number>([['input', -1]]);
  const last = new Map<string, number>([[output, Infinity]]);
  steps.forEach((step, i) => {
    for (const b of step.kernel.bindings) {
      const name = step.bind[b.tensor];
      if (!name)
        throw new Error(`internal: ${step.kernel.name} binds '${b.tensor}', which the plan lacks`);
      const kind = tensors.get(name)?.kind;
      if (kind !== 'activation' && kind !== 'input' && kind !== 'scratch') continue;
      if (!first.has(name)) first.set(name, i);
      if (last.get(name) !== Infinity) last.set(name, Math.max(last.get(name) ?? i, i));
    }
  });
  return [...first].map(([tensor, f]) => ({
    tensor,
    bytes: tensors.get(tensor)!.bytes,
    first: f,
    last: last.get(tensor) ?? f,
  }));
}

const mib = (b: number) => (b / 2 ** 20).toFixed(1);
