/**
 * From source text to a checked, typed Graph: parse, pick the model, lower, infer shapes.
 * Every problem found on the way is collected; if any is an error, one VggcError carries them all.
 */
import type { FileAst, ModelAst } from '../dsl/ast.js';
import {
  error,
  hasErrors,
  VggcError,
  type Diagnostic,
  type SourceFile,
} from '../dsl/diagnostics.js';
import { parse } from '../dsl/index.js';
import type { Shape } from './ir.js';
import { MAX_CHANNELS, MAX_SIDE } from './limits.js';
import { lower } from './lower.js';
import { inferShapes, type TypedGraph } from './shapes.js';

export interface FrontendOptions {
  /** Model name; may be omitted when the file holds exactly one model. */
  readonly model?: string;
  /** Overrides the model's declared input shape. */
  readonly input?: Shape;
}

/** Parses and checks one model of a .vgg source. Throws VggcError with every diagnostic found. */
export function checkSource(source: SourceFile, options: FrontendOptions = {}): TypedGraph {
  const { ast, diagnostics } = parse(source);
  if (hasErrors(diagnostics)) throw new VggcError(diagnostics);
  const model = selectModel(ast, options.model);
  const lowered = lower(model, options.input ? { input: options.input } : {});
  const all: Diagnostic[] = [...lowered.diagnostics];
  if (hasErrors(all)) throw new VggcError(all);
  const shaped = inferShapes(lowered.graph);
  all.push(...shaped.diagnostics);
  if (!shaped.graph || hasErrors(all)) throw new VggcError(all);
  return shaped.graph;
}

/** Finds the model to compile: the named one, or the only one in the file. */
export function selectModel(ast: FileAst, name?: string): ModelAst {
  const names = ast.models.map((m) => m.name);
  if (name === undefined) {
    if (ast.models.length === 1) return ast.models[0]!;
    if (ast.models.length === 0)
      throw new VggcError(error(`${ast.file}: the file defines no model`));
    throw new VggcError(
      error(
        `${ast.file}: the file defines ${names.length} models (${names.join(', ')}): choose one with --model NAME`,
      ),
    );
  }
  const found =
    ast.models.find((m) => m.name === name) ??
    ast.models.find((m) => m.name.toLowerCase() === name.toLowerCase());
  if (!found) {
    const list = names.length ? names.join(', ') : 'none';
    throw new VggcError(error(`${ast.file}: no model named '${name}' (models: ${list})`));
  }
  return found;
}

/** Parses a `CxHxW` shape argument such as `3x224x224`. */
export function parseShapeArg(text: string, what = '--input'): Shape {
  const m = /^\s*(\d+)\s*[xX]\s*(\d+)\s*[xX]\s*(\d+)\s*$/.exec(text);
  if (!m)
    throw new VggcError(error(`${what} must look like CxHxW (e.g. 3x224x224), not '${text}'`));
  const [c, h, w] = [Number(m[1]), Number(m[2]), Number(m[3])];
  const limits: [number, string, number][] = [
    [c, 'channels', MAX_CHANNELS],
    [h, 'height', MAX_SIDE],
    [w, 'width', MAX_SIDE],
  ];
  for (const [v, name, max] of limits) {
    if (v < 1 || v > max)
      throw new VggcError(error(`${what}: ${name} must be from 1 to ${max}, not ${v}`));
  }
  return [c, h, w];
}
