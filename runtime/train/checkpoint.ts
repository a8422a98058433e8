/**
 * Training checkpoints. Next to the weights file `OUT.safetensors` (parameters only, by
 * torchvision name: what `vggc run`, `eval` and PyTorch load), every epoch writes
 * `OUT.ckpt.safetensors`: the parameters, the optimiser's momenta (`momentum.<name>`) and, in
 * the safetensors metadata, where the run stands (epoch, global step, learning-rate schedule,
 * seed). Both are written atomically (temp file, then rename): a run killed at any moment leaves
 * the last complete checkpoint readable, and `--resume` continues from it.
 */
import { fail } from '../../dsl/diagnostics.js';
import type { Graph } from '../../compiler/ir.js';
import { SafetensorsFile, writeSafetensors, type Tensor } from '../safetensors.js';
import { loadWeights, parameterLayout } from '../weights.js';
import type { ScheduleState } from './lr-schedule.js';

/** Where a run stands after a complete epoch. */
export interface RunState {
  readonly model: string;
  /** Epochs completed. */
  readonly epoch: number;
  /** Global steps completed. */
  readonly step: number;
  readonly seed: number;
  readonly batch: number;
  readonly schedule: ScheduleState;
}

export interface Checkpoint {
  readonly state: RunState;
  readonly weights: Map<string, Float32Array>;
  readonly momenta: Map<string, Float32Array>;
}

const MOMENTUM = 'momentum.';
const KEY = 'vggc_train';

/** `mnist.safetensors` -> `mnist.ckpt.safetensors`. */
export function checkpointPath(weightsPath: string): string {
  return weightsPath.replace(/(\.safetensors)?$/, '.ckpt.safetensors');
}

export async function saveCheckpoint(
  path: string,
  graph: Graph,
  weights: ReadonlyMap<string, Float32Array>,
  momenta: ReadonlyMap<string, Float32Array>,
  state: RunState,
): Promise<void> {
  const tensors: [string, Tensor][] = [];
  for (const p of parameterLayout(graph)) {
    tensors.push([p.name, { shape: p.shape, data: weights.get(p.name)! }]);
    tensors.push([MOMENTUM + p.name, { shape: p.shape, data: momenta.get(p.name)! }]);
  }
  await writeSafetensors(path, tensors, {
    format: 'pt',
    model: graph.name,
    [KEY]: JSON.stringify(state),
  });
}

export async function loadCheckpoint(path: string, graph: Graph): Promise<Checkpoint> {
  const file = await SafetensorsFile.open(path);
  let state: RunState;
  try {
    const text = file.metadata[KEY];
    if (!text) fail(`${path}: not a vggc training checkpoint (no '${KEY}' metadata)`);
    state = JSON.parse(text) as RunState;
    if (state.model !== graph.name) {
      fail(`${path}: the checkpoint is of model '${state.model}', not '${graph.name}'`);
    }
    if (!parameterLayout(graph).every((p) => file.has(MOMENTUM + p.name))) {
      fail(`${path}: the checkpoint has no optimiser momenta`);
    }
  } finally {
    await file.close();
  }
  const weights = await loadWeights(path, graph);
  const momenta = new Map<string, Float32Array>();
  const again = await SafetensorsFile.open(path);
  try {
    for (const p of parameterLayout(graph))
      momenta.set(p.name, await again.read(MOMENTUM + p.name));
  } finally {
    await again.close();
  }
  return { state, weights, momenta };
}
