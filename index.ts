/**
 * vggc as a library: everything the CLI does is reachable from here.
 *
 *     import { checkSource, summarize } from 'vggc';
 */
export * from './dsl/diagnostics.js';
export type * from './dsl/ast.js';
export { parse } from './dsl/index.js';
export type * from './compiler/ir.js';
export { checkSource, parseShapeArg, selectModel, type FrontendOptions } from './compiler/frontend.js';
export { lower, describe } from './compiler/lower.js';
export { inferShapes, type TypedGraph } from './compiler/shapes.js';
export { summarize, type ModelSummary, type LayerSummary } from './compiler/summary.js';
export { acquireGpu, releaseGpu, type Gpu } from './runtime/device.js';
