/**
 * vggc as a library: everything the CLI does is reachable from here.
 *
 *     import { checkSource, summarize } from 'vggc';
 */
export * from './dsl/diagnostics.js';
export type * from './dsl/ast.js';
export { parse } from './dsl/index.js';
export type * from './compiler/ir.js';
export {
  checkSource,
  parseShapeArg,
  selectModel,
  type FrontendOptions,
} from './compiler/frontend.js';
export { lower, describe } from './compiler/lower.js';
export { inferShapes, type TypedGraph } from './compiler/shapes.js';
export { summarize, type ModelSummary, type LayerSummary } from './compiler/summary.js';
export { acquireGpu, releaseGpu, type Gpu } from './runtime/device.js';
export {
  compileInference,
  compileTraining,
  compileDense,
  forInference,
  setDropout,
  passDumps,
  type CompileOptions,
  type PassDump,
  type TrainCompileOptions,
  type DenseCompilation,
} from './compiler/compile.js';
export { autodiff } from './compiler/passes/autodiff.js';
export { schedule } from './compiler/schedule.js';
export { planStats, type KernelPlan, type PlanStep, type PlanTensor } from './compiler/plan.js';
export { planFiles } from './compiler/plan-json.js';
export {
  optimizeForInference,
  optimizeForTraining,
  FUSIONS,
  type FuseOption,
} from './compiler/passes/index.js';
export { paramLayout, paramList, paramNames, type ParamEntry } from './compiler/params.js';
export { verifyGraph } from './compiler/verify.js';
export { printGraph } from './compiler/print-graph.js';
export { targetOf, checked } from './runtime/device.js';
export { prepare, type Executable } from './runtime/executor.js';
export { createInference, type Inference } from './runtime/infer.js';
export { loadWeights, saveWeights } from './runtime/weights.js';
export { initWeights, initFromShallower, type InitScheme } from './runtime/init.js';
export { createTrainer, type Trainer, type StepResult } from './runtime/trainer.js';
export { train, evaluate, type TrainConfig, type TrainResult } from './runtime/train/loop.js';
export { loadCheckpoint, checkpointPath } from './runtime/train/checkpoint.js';
export { readNpy, writeNpy } from './runtime/npy.js';
export { readSafetensors, writeSafetensors } from './runtime/safetensors.js';
export {
  benchModel,
  kernelRows,
  type BenchOptions,
  type BenchResult,
  type BenchCase,
  type BenchVariant,
  type KernelRow,
} from './runtime/bench.js';
export { barChart, type BarRow } from './runtime/bar-chart.js';
export { createDenseInference, classScores, type DenseInference } from './runtime/dense.js';
export {
  createEvaluator,
  evaluateSplit,
  checkScales,
  type Evaluator,
  type EvalOptions,
  type Posteriors,
} from './runtime/eval.js';
export { inTopK, topKCounts, errorRates, topClasses, type TopKCounts } from './runtime/topk.js';
export { openDataset } from './runtime/data/open.js';
export {
  resolveTestPlan,
  resolveMean,
  defaultTestScales,
  describePlan,
  TEST_DEFAULTS,
  TEST_RULES,
  type TestPlan,
  type TestOverrides,
  type TestScales,
} from './runtime/test-plan.js';
export {
  resolveTrainConfig,
  TRAIN_DEFAULTS,
  TRAIN_RULES,
  AUGMENT_MODES,
  type TrainOverrides,
  type ResolvedTrainConfig,
  type AugmentMode,
} from './runtime/train/config.js';
export { satisfies, type NumberRule, type SettingNames } from './runtime/settings.js';
export {
  checkOutputs,
  checkOutputDir,
  writeOutputDir,
  OUTPUT_MARKER,
  type PathRole,
  type InputRole,
  type OutputDirOptions,
} from './runtime/outputs.js';
export { importOnnx, type ImportOptions, type Imported } from './compiler/onnx/import.js';
export { exportOnnx, type ExportOptions } from './compiler/onnx/export.js';
export { printVgg } from './compiler/print.js';
export { importOnnxFile, exportOnnxFile } from './runtime/onnx.js';
export {
  CONV_MODES,
  APPLICABLE,
  layerKey,
  type Algorithm,
  type AlgorithmChoice,
  type Chooser,
  type ConvMode,
  type LayerShape,
} from './compiler/algorithms.js';
export {
  chooserFor,
  forcingChooser,
  layerChoices,
  RULE,
  type TuningTable,
} from './compiler/chooser.js';
export { convChooser, loadTuningTable, saveTuning, type ConvOptions } from './runtime/tuning.js';
export { warmUp, pendingPipelines, type WarmupProgress } from './runtime/warmup.js';
