/**
 * Scheduling: a typed, optimised Graph -> KernelPlan, the list of dispatches the runtime encodes
 * into one command buffer, the tensors they bind, and the memory plan for the activations.
 *
 * Every graph node becomes the kernels its WGSL generator returns for the node's constant shapes
 * (fused steps travel in the node's epilogue). Kernel tensor roles ('x', 'y', 'w', 'b', scratch)
 * are mapped to plan tensors: activations `act<id>`, the batch `input`, parameters by their
 * torchvision names (`features.0.weight`).
 */
import { VggcError, error } from '../dsl/diagnostics.js';
import { isTrainingOp, type TypedNode } from './ir.js';
import { describe } from './lower.js';
import { planMemory, type Lifetime } from './memory.js';
import { paramNames, type NodeParams } from './params.js';
import {
  dropoutParams,
  momentumName,
  type FlatEntry,
  type KernelPlan,
  type PlanStep,
  type PlanTensor,
  type TrainingLayout,
} from './plan.js';
import {
  flatLayout,
  scheduleOptimizer,
  scheduleTrainingNode,
  type TrainContext,
} from './schedule-train.js';
import type { TypedGraph } from './shapes.js';
import { convKernels, convScratch } from './wgsl/conv.js';
import { convValidKernels } from './wgsl/conv-valid.js';
import { fcKernels } from './wgsl/fc.js';
import type { Kernel, TargetInfo } from './wgsl/kernel.js';
import { lrnKernels } from './wgsl/lrn.js';
import { maxpoolKernels } from './wgsl/maxpool.js';
import { reluKernels } from './wgsl/relu.js';
import { softmaxKernels } from './wgsl/softmax.js';

export interface ScheduleOptions {
  readonly batch: number;
  readonly target: TargetInfo;
}

export function schedule(graph: TypedGraph, options: ScheduleOptions): KernelPlan {
  const { batch: n, target } = options;
  const names = paramNames(graph);
  const tensors = new Map<string, PlanTensor>();
  const steps: PlanStep[] = [];
  const byId = new Map(graph.nodes.map((node) => [node.id, node]));
  const actName = new Map<number, string>();

  const training = graph.nodes.some((node) => isTrainingOp(node.op));
  const addTensor = (t: PlanTensor) => {
    const whole = t.kind === 'activation' || t.kind === 'input' || t.kind === 'scratch';
    if (t.bytes > target.maxStorageBufferBindingSize && whole) {
      throw new VggcError(
        error(
          `tensor ${t.name} [${t.shape.join(', ')}] needs ${mib(t.bytes)} MiB, over this adapter's ` +
            `${mib(target.maxStorageBufferBindingSize)} MiB storage binding limit: use a smaller batch`,
        ),
      );
    }
    tensors.set(t.name, t);
  };
  const activation = (node: TypedNode): string => {
    const name = node.op.op === 'input' ? 'input' : `act${node.id}`;
    const shape = [n, ...node.out];
    addTensor({
      name,
      kind: node.op.op === 'input' ? 'input' : 'activation',
      shape,
      bytes: 4 * prod(shape),
    });
    actName.set(node.id, name);
    return name;
  };

  const byParam = new Map<string, NodeParams>();
  for (const [id, p] of names) byParam.set(byId.get(id)!.param!, p);
  const ctx: TrainContext = {
    n,
    target,
    input: (node, i) => {
      const src = byId.get(node.inputs[i]!);
      if (!src) throw new Error(`internal: node ${node.id} reads a missing node`);
      return src;
    },
    act: (id) => {
      const name = actName.get(id);
      if (!name) throw new Error(`internal: node ${id} has no activation`);
      return name;
    },
    activation,
    addTensor,
    params: (param) => {
      const p = byParam.get(param);
      if (!p) throw new Error(`internal: no layer has parameters '${param}'`);
      return p;
    },
  };
  const label = (node: TypedNode) =>
    describe(node.op) +
    ('epilogue' in node.op ? node.op.epilogue.map((s) => `+${s.kind}`).join('') : '');
  let entries: FlatEntry[] | undefined;
  const dropout: { tensor: string; stream: number }[] = [];

  for (const node of graph.nodes) {
    if (node.op.op === 'input') {
      activation(node);
      continue;
    }
    if (node.op.op === 'sgd') {
      entries ??= flatLayout(paramTensors(tensors), target);
      const all = [...byParam.keys()];
      for (const { kernels, bind } of scheduleOptimizer(node, ctx, all, entries)) {
        for (const kernel of kernels)
          steps.push({ kernel, node: node.id, label: label(node), bind });
      }
      continue;
    }
    if (isTrainingOp(node.op) || (node.op.op === 'dropout' && training)) {
      const { kernels, bind } = scheduleTrainingNode(node, ctx);
      if (node.op.op === 'dropout') dropout.push({ tensor: bind.params!, stream: node.id });
      for (const kernel of kernels) steps.push({ kernel, node: node.id, label: label(node), bind });
      continue;
    }
    const src = byId.get(node.inputs[0]!);
    if (!src) throw new Error(`internal: node ${node.id} reads a missing node`);
    const x = actName.get(src.id)!;
    const [c, h, w] = src.out;
    const y = activation(node);
    const bind: Record<string, string> = { x, y };
    const op = node.op;
    let kernels: Kernel[];
    const relu = 'epilogue' in op && op.epilogue.some((s) => s.kind === 'relu');
    switch (op.op) {
      case 'conv': {
        if (op.epilogue.some((s) => s.kind === 'dropout')) {
          throw new Error(`internal: conv node ${node.id} has a dropout epilogue`);
        }
        // 'same' 3x3/1x1 convs take the fast kernel; other sizes (the FC-to-conv rewrite's k x k,
        // padding 0) and a pad-0 conv whose output is 1x1 (exactly an FC) take conv-valid.
        const same = (op.kernel === 1 || op.kernel === 3) && 2 * op.pad === op.kernel - 1;
        const kw = op.kernelW ?? op.kernel;
        const fcLike = op.pad === 0 && h === op.kernel && w === kw;
        // A fused 2x2 max pool (conv-relu-pool): node.out is already the pooled shape.
        const pool = op.epilogue.some((s) => s.kind === 'maxpool');
        if (!same || fcLike || kw !== op.kernel) {
          if (op.pad !== 0) {
            throw new Error(
              `internal: no kernel for a ${op.kernel}x${op.kernel} conv, pad ${op.pad}`,
            );
          }
          kernels = convValidKernels(
            { n, cin: c, h, w, cout: op.cout, kernel: op.kernel, kernelW: kw, relu },
            target,
          );
          if (pool) {
            // conv-valid has no pooling epilogue: the conv writes the pre-pool tensor and the
            // maxpool kernel reads it (two dispatches, as unfused, for this rare node).
            const [ph, pw] = [h - op.kernel + 1, w - kw + 1];
            const pre = `act${node.id}.prepool`;
            addTensor({
              name: pre,
              kind: 'activation',
              shape: [n, op.cout, ph, pw],
              bytes: 4 * n * op.cout * ph * pw,
            });
            bind.prepool = pre;
            const rename = (k: Kernel, from: string): Kernel => ({
              ...k,
              bindings: k.bindings.map((b) =>
                b.tensor === from ? { ...b, tensor: 'prepool' } : b,
              ),
            });
            kernels = [
              ...kernels.map((k) => rename(k, 'y')),
              ...maxpoolKernels({ n, c: op.cout, h: ph, w: pw }, target).map((k) => rename(k, 'x')),
            ];
          }
          break;
        }
        const spec = {
          n,
          cin: c,
          h,
          w,
          cout: op.cout,
          kernel: op.kernel as 1 | 3,
          pad: op.pad,
          relu,
          pool,
        };
        kernels = convKernels(spec, target);
        for (const s of convScratch(spec, target)) {
          const name = `scratch${node.id}.${s.tensor}`;
          addTensor({ name, kind: 'scratch', shape: [s.bytes / 4], bytes: s.bytes });
          bind[s.tensor] = name;
        }
        break;
      }
      case 'fc': {
        // A fused dropout (fc-dropout, training only) binds its layer's seed block, the one its
        // dropout-grad reads, and the runtime writes it each step like a dropout node's.
        const drop = op.epilogue.find((s) => s.kind === 'dropout');
        if (drop && !training) {
          throw new Error(`internal: FC node ${node.id} has a dropout epilogue in inference`);
        }
        if (drop) {
          const params = dropoutParams(drop.stream);
          addTensor({ name: params, kind: 'host', shape: [4], bytes: 16 });
          bind.params = params;
          dropout.push({ tensor: params, stream: drop.stream });
        }
        const spec = { n, inFeatures: c * h * w, outFeatures: op.units, relu };
        kernels = fcKernels(drop ? { ...spec, dropout: { p: drop.p } } : spec, target);
        break;
      }
      case 'relu':
        kernels = reluKernels({ count: n * c * h * w }, target);
        break;
      case 'maxpool':
        kernels = maxpoolKernels({ n, c, h, w }, target);
        break;
      case 'lrn':
        kernels = lrnKernels(
          { n, c, h, w, size: op.n, alpha: op.alpha, beta: op.beta, k: op.k },
          target,
        );
        break;
      case 'softmax':
        kernels = softmaxKernels({ n, classes: c * h * w }, target);
        break;
      case 'dropout':
        throw new Error('internal: dropout reached the scheduler (run the inference passes first)');
      default:
        throw new Error(`internal: no kernel for node ${node.id}`);
    }
    const params = names.get(node.id);
    if (params) {
      // (In training, these become views into the flat buffers once all layers are known.)
      bind.w = params.weight.name;
      bind.b = params.bias.name;
      for (const p of [params.weight, params.bias]) {
        tensors.set(p.name, {
          name: p.name,
          kind: 'param',
          shape: p.shape,
          bytes: 4 * prod(p.shape),
        });
      }
    }
    for (const kernel of kernels) steps.push({ kernel, node: node.id, label: label(node), bind });
  }

  let layout: TrainingLayout | undefined;
  if (training) {
    entries ??= flatLayout(paramTensors(tensors), target);
    layout = { entries, flatBytes: flatBytes(entries), dropout };
    placeFlat(tensors, layout);
  }
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

/** The parameter tensors, in the order the layers declared them. */
function paramTensors(tensors: Map<string, PlanTensor>): { name: string; bytes: number }[] {
  return [...tensors.values()].filter((t) => t.kind === 'param');
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
      [`grad.${e.name}`, 'grad', 'grads'],
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

const prod = (xs: readonly number[]) => xs.reduce((a, b) => a * b, 1);
const mib = (b: number) => (b / 2 ** 20).toFixed(1);
