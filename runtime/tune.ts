/**
 * `vggc tune`: times every candidate algorithm and tuning (compiler/algorithms.ts APPLICABLE)
 * of each distinct layer shape of a model on this adapter, and names the winners, which
 * runtime/tuning.ts stores in the tuning cache for `--conv auto`.
 *
 * The layers are the ones the lowering rules ask the chooser about (compiler/lowering/), found by
 * compiling the model once with a chooser that records its questions: the forward pass, and with
 * `train` the training step (its backward layers too). Then in rounds: round r compiles the whole
 * plan with every layer forced to its r-th candidate (a layer with fewer keeps its first), runs
 * it once (lavapipe compiles each pipeline at its first dispatch), and profiles it `runs` times
 * (runtime/executor.ts `profile()`, one pass per dispatch, GPU time from timestamp queries);
 * a layer's time is the median over the profiles of the sum of its dispatches, per occurrence of
 * the shape. A round that fails to compile or run is retried one layer at a time, so one
 * candidate that cannot run for one layer costs only itself. Timing whole plans rather than
 * one-layer plans keeps the layer's real neighbours (its input written by the layer before) and
 * compiles each pipeline once per round.
 */
import type { AlgorithmChoice, Chooser, LayerShape, Tuning } from '../compiler/algorithms.js';
import { layerKey, type Algorithm, type ConvMode } from '../compiler/algorithms.js';
import {
  candidateName,
  candidates as candidatesOf,
  type ApplicableTable,
} from '../compiler/chooser.js';
import { compileInference, compileTraining } from '../compiler/compile.js';
import { numel } from '../compiler/ir.js';
import type { KernelPlan } from '../compiler/plan.js';
import type { TypedGraph } from '../compiler/shapes.js';
import { fail } from '../dsl/diagnostics.js';
import { median, pseudoImages } from './bench.js';
import { acquireGpu, targetOf, type AdapterDescription, type Gpu } from './device.js';
import { prepare } from './executor.js';
import { initWeights } from './init.js';
import { createTrainer } from './trainer.js';
import type { CachedLayer } from './tuning.js';

export interface TuneOptions {
  /** Batch size the layers are tuned at (default 1). */
  readonly batch?: number;
  /** Tune the training step's layers too (forward and backward). */
  readonly train?: boolean;
  /** Profiles per round, median per layer (default 3). */
  readonly runs?: number;
  readonly gpu?: Gpu;
  /**
   * Which algorithms to time besides direct (always timed: the baseline): 'auto' (default) all
   * of them, 'winograd' Winograd's, 'direct' the direct kernel's tunings only.
   */
  readonly conv?: ConvMode;
  /** What each algorithm can run (default: compiler/algorithms.ts APPLICABLE); tests fake it. */
  readonly applicable?: ApplicableTable;
  /** Told the work so far: rounds done of the total, and what is being timed. */
  readonly progress?: (done: number, total: number, what: string) => void;
}

export interface TunedCandidate {
  readonly algorithm: Algorithm;
  readonly tuning: Tuning;
  /** `direct`, `direct rows=4`, `winograd-f4`, ... */
  readonly name: string;
  /** Median GPU ms per occurrence of the layer; NaN where the candidate failed. */
  readonly ms: number;
  /** Why it failed, in one line. */
  readonly failed?: string;
}

export interface TunedLayer {
  readonly key: string;
  readonly layer: LayerShape;
  /** Nodes of this shape in the plan. */
  readonly count: number;
  readonly candidates: readonly TunedCandidate[];
  /** Index of the fastest candidate. */
  readonly winner: number;
  /** The direct kernel's (default tuning's) time over the winner's. */
  readonly speedup: number;
}

export interface TuneResult {
  readonly model: string;
  readonly adapter: AdapterDescription;
  readonly batch: number;
  readonly train: boolean;
  readonly runs: number;
  readonly layers: readonly TunedLayer[];
}

/**
 * A candidate replaces the default (direct, default tiles) only when it is faster by more than
 * this factor: GPU times of one layer vary by a few percent between profiles on lavapipe.
 */
export const TUNE_MARGIN = 1.05;

/** The reason a forced choice carries: it names the layer, so plan steps map back to it. */
const TAG = 'vggc tune: ';

/** One plan kind to tune: how to compile it with a chooser and time its steps. */
interface Kind {
  readonly name: 'forward' | 'training step';
  compile(choose: Chooser): KernelPlan;
}

export async function tuneModel(graph: TypedGraph, options: TuneOptions = {}): Promise<TuneResult> {
  const batch = options.batch ?? 1;
  const runs = options.runs ?? 3;
  if (!Number.isInteger(batch) || batch < 1) fail(`batch must be a positive integer, not ${batch}`);
  if (!Number.isInteger(runs) || runs < 1) fail(`runs must be a positive integer, not ${runs}`);
  const gpu = options.gpu ?? (await acquireGpu());
  const target = targetOf(gpu);
  const weights = initWeights(graph, { scheme: 'kaiming', seed: 1 });
  const kinds: Kind[] = [
    { name: 'forward', compile: (choose) => compileInference(graph, { target, batch, choose }) },
    ...(options.train
      ? [
          {
            name: 'training step' as const,
            compile: (choose: Chooser) => compileTraining(graph, { target, batch, choose }),
          },
        ]
      : []),
  ];

  // The layers each kind asks about, and their candidates.
  const layers = new Map<string, { layer: LayerShape; kinds: Set<Kind> }>();
  for (const kind of kinds) {
    kind.compile((layer) => {
      const key = layerKey(layer);
      const l = layers.get(key) ?? { layer, kinds: new Set<Kind>() };
      l.kinds.add(kind);
      layers.set(key, l);
      return { algorithm: 'direct', reason: TAG };
    });
  }
  const mode = options.conv ?? 'auto';
  const wanted = (a: Algorithm) =>
    a === 'direct' || mode === 'auto' || (mode === 'winograd' && a.startsWith('winograd'));
  const cands = new Map(
    [...layers].map(([key, l]) => [
      key,
      candidatesOf(l.layer, target, options.applicable).filter((c) => wanted(c.algorithm)),
    ]),
  );
  const times = new Map<string, { ms: number[]; failed?: string }[]>(
    [...cands].map(([key, c]) => [key, c.map(() => ({ ms: [] }))]),
  );
  const counts = new Map<string, number>();

  // Rounds: per kind, as many as its layers have candidates.
  const plans = kinds.map((kind) => {
    const keys = [...layers].filter(([, l]) => l.kinds.has(kind)).map(([k]) => k);
    const rounds = Math.max(0, ...keys.map((k) => cands.get(k)!.length));
    return { kind, keys, rounds };
  });
  const total = plans.reduce((s, p) => s + p.rounds, 0);
  let done = 0;
  const choiceFor = (key: string, r: number): AlgorithmChoice => {
    const c = cands.get(key)!;
    const { algorithm, tuning } = c[Math.min(r, c.length - 1)]!;
    return { algorithm, tuning, reason: TAG + key };
  };
  for (const { kind, keys, rounds } of plans) {
    for (let r = 0; r < rounds; r++) {
      const timed = keys.filter((k) => cands.get(k)!.length > r);
      options.progress?.(done, total, `${kind.name}: candidate ${r + 1} of ${rounds}`);
      const choose: Chooser = (layer) => choiceFor(layerKey(layer), r);
      try {
        await timeRound(kind, choose, timed, r);
      } catch (e) {
        // One layer at a time: the others on their first candidate.
        for (const key of timed) {
          const one: Chooser = (layer) => {
            const k = layerKey(layer);
            return choiceFor(k, k === key ? r : 0);
          };
          try {
            await timeRound(kind, one, [key], r);
          } catch (e1) {
            times.get(key)![r]!.failed = firstLine(e1) ?? firstLine(e) ?? 'failed';
          }
        }
      }
      done++;
    }
  }
  options.progress?.(done, total, 'done');

  async function timeRound(kind: Kind, choose: Chooser, keys: string[], r: number) {
    const plan = kind.compile(choose);
    const stepMs = await profileSteps(plan);
    const sums = new Map<string, number[]>();
    const nodes = new Map<string, Set<number>>();
    for (const [i, step] of plan.steps.entries()) {
      const reason = step.algorithm?.reason ?? '';
      if (!reason.startsWith(TAG)) continue;
      const key = reason.slice(TAG.length);
      if (!nodes.has(key)) nodes.set(key, new Set());
      nodes.get(key)!.add(step.node);
      const per = stepMs.map((run) => run[i]!);
      const acc = sums.get(key) ?? per.map(() => 0);
      sums.set(
        key,
        acc.map((a, j) => a + per[j]!),
      );
    }
    for (const key of keys) {
      const s = sums.get(key);
      if (!s) continue;
      const n = nodes.get(key)!.size;
      counts.set(key, Math.max(counts.get(key) ?? 0, n));
      times.get(key)![r]!.ms.push(...s.map((v) => v / n));
    }
  }

  /** Per profile, every step's GPU ms, after one warm-up run. */
  async function profileSteps(plan: KernelPlan): Promise<number[][]> {
    const out: number[][] = [];
    if (!plan.training) {
      const exe = await prepare(gpu, plan, weights);
      try {
        const x = pseudoImages(plan.batch * numel(plan.input));
        await exe.run(x);
        for (let i = 0; i < runs; i++) out.push([...(await exe.profile(x)).stepsMs]);
      } finally {
        exe.destroy();
      }
      return out;
    }
    const trainer = await createTrainer(gpu, plan, weights);
    try {
      const classes = graph.nodes.at(-1)!.out[0];
      const images = pseudoImages(batch * numel(plan.input));
      const labels = Int32Array.from({ length: batch }, (_, i) => (i * 7 + 3) % classes);
      const hyper = { lr: 0.01, momentum: 0.9, weightDecay: 5e-4, seed: 11, step: 0 };
      await trainer.step(images, labels, hyper);
      for (let i = 0; i < runs; i++) out.push([...(await trainer.profile()).stepsMs]);
    } finally {
      trainer.destroy();
    }
    return out;
  }

  const tuned: TunedLayer[] = [...layers].map(([key, { layer }]) => {
    const c = cands.get(key)!;
    const t = times.get(key)!;
    const list: TunedCandidate[] = c.map(({ algorithm, tuning }, i) => {
      const ms = t[i]!.ms.length > 0 ? median(t[i]!.ms) : NaN;
      const failed = t[i]!.failed ?? (Number.isNaN(ms) ? 'not timed' : undefined);
      return {
        algorithm,
        tuning,
        name: candidateName({ algorithm, tuning }),
        ms,
        ...(failed ? { failed } : {}),
      };
    });
    let winner = 0;
    list.forEach((x, i) => {
      const best = list[winner]!.ms;
      if (!Number.isNaN(x.ms) && (Number.isNaN(best) || x.ms < best)) winner = i;
    });
    // Within the noise of the default (the first candidate, direct), keep the default.
    if (list[0]!.ms <= TUNE_MARGIN * list[winner]!.ms) winner = 0;
    const direct = list.find((x) => x.algorithm === 'direct' && !Number.isNaN(x.ms));
    const speedup = direct ? direct.ms / list[winner]!.ms : 1;
    return { key, layer, count: counts.get(key) ?? 1, candidates: list, winner, speedup };
  });
  return {
    model: graph.name,
    adapter: gpu.adapter,
    batch,
    train: !!options.train,
    runs,
    layers: tuned,
  };
}

/** The cache entries of a tuning result: each layer's winner, every candidate's time. */
export function cacheEntries(result: TuneResult, date: string): Record<string, CachedLayer> {
  const out: Record<string, CachedLayer> = {};
  for (const l of result.layers) {
    const w = l.candidates[l.winner]!;
    if (Number.isNaN(w.ms)) continue; // nothing ran: nothing to remember
    const ms: Record<string, number> = {};
    for (const c of l.candidates) if (!Number.isNaN(c.ms)) ms[c.name] = round3(c.ms);
    out[l.key] = {
      algorithm: w.algorithm,
      ...(Object.keys(w.tuning).length > 0 ? { tuning: w.tuning } : {}),
      speedup: round3(l.speedup),
      ms,
      date,
    };
  }
  return out;
}

const round3 = (v: number) => Math.round(v * 1000) / 1000;

function firstLine(e: unknown): string | undefined {
  const m = e instanceof Error ? e.message : undefined;
  return m?.split('\n')[0];
}
