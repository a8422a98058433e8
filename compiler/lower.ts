/**
 * Lowering: one model's AST -> Graph IR.
 *
 * Expands `xN` repeats and groups, makes the paper's implicit ReLUs explicit (after every conv
 * and every FC except the last FC), fills in LRN defaults, and checks everything that does not
 * need shapes: kernel sizes, counts, probabilities, layer order. Shapes are compiler/shapes.ts.
 */
import type { LayerAst, LrnAst, ModelAst, NumberAst } from '../dsl/ast.js';
import { error, type Diagnostic, type Span } from '../dsl/diagnostics.js';
import type { Graph, Node, Op, Shape } from './ir.js';
import { MAX_CHANNELS, MAX_LAYERS, MAX_REPEAT, MAX_SIDE, MAX_UNITS } from './limits.js';
import { lowerSettings } from './settings.js';

/** AlexNet's LRN parameters, the paper's default. */
export const LRN_DEFAULTS = { n: 5, alpha: 1e-4, beta: 0.75, k: 2 } as const;

export interface LowerOptions {
  /** Replaces the model's declared input (`vggc check --input CxHxW`). */
  readonly input?: Shape;
}

export interface Lowered {
  readonly graph: Graph;
  readonly diagnostics: Diagnostic[];
}

/** A layer after repeats are expanded, before ReLUs are added. */
interface FlatLayer {
  readonly op: Op;
  readonly span: Span;
}

export function lower(model: ModelAst, options: LowerOptions = {}): Lowered {
  const diagnostics: Diagnostic[] = [];
  const settings = lowerSettings(model.settings);
  diagnostics.push(...settings.diagnostics);

  let input: Shape | undefined = options.input;
  if (!input && model.input) {
    const { c, h, w, span } = model.input;
    const bad = [
      checkInt(c, 'input channels', MAX_CHANNELS),
      checkInt(h, 'input height', MAX_SIDE),
      checkInt(w, 'input width', MAX_SIDE),
    ].find((m) => m !== undefined);
    if (bad) diagnostics.push(error(bad, span));
    else input = [c, h, w];
  } else if (!input) {
    diagnostics.push(
      error(
        `model '${model.name}' declares no input: add a line such as 'input 3x224x224'`,
        model.nameSpan,
      ),
    );
  }

  const flat: FlatLayer[] = [];
  flatten(model.layers, flat, diagnostics);
  checkOrder(flat, diagnostics);
  const tooMany = flat[MAX_LAYERS];
  if (tooMany && !diagnostics.some((d) => d.severity === 'error')) {
    // flatten stops one layer past the limit; a repeat has already said so at its count.
    diagnostics.push(error(`the model has more than ${MAX_LAYERS} layers`, tooMany.span));
  }
  if (flat.length === 0 && !diagnostics.some((d) => d.severity === 'error')) {
    diagnostics.push(
      error(
        `model '${model.name}' has no layers: add some, e.g. 'conv3-64', 'maxpool', 'FC-10'`,
        model.nameSpan,
      ),
    );
  }

  const nodes: Node[] = [];
  // torch.nn.Sequential numbering of torchvision's VGG: `features` counts every conv, ReLU, LRN
  // and maxpool; `classifier` starts at the first FC and counts every FC, ReLU and dropout.
  const index = { features: 0, classifier: 0 };
  let section: keyof typeof index = 'features';
  const add = (op: Op, span: Span | undefined) => {
    const id = nodes.length;
    if (op.op === 'fc') section = 'classifier';
    let param: string | undefined;
    if (op.op !== 'input' && op.op !== 'softmax') {
      if (op.op === 'conv' || op.op === 'fc') param = `${section}.${index[section]}`;
      index[section]++;
    }
    nodes.push({
      id,
      op,
      inputs: id === 0 ? [] : [id - 1],
      ...(span ? { span } : {}),
      ...(param ? { param } : {}),
    });
  };
  add({ op: 'input', shape: input ?? [1, 1, 1] }, model.input?.span ?? model.nameSpan);
  const lastFc = flat.map((l) => l.op.op).lastIndexOf('fc');
  flat.forEach((layer, i) => {
    add(layer.op, layer.span);
    const op = layer.op.op;
    if (op === 'conv' || (op === 'fc' && i !== lastFc)) add({ op: 'relu' }, layer.span);
  });

  return {
    graph: {
      name: model.name,
      nodes,
      train: settings.train,
      test: settings.test,
      span: model.span,
    },
    diagnostics,
  };
}

function checkInt(v: number, what: string, max: number): string | undefined {
  if (!Number.isInteger(v)) return `${what} must be a whole number, not ${v}`;
  if (v < 1) return `${what} must be at least 1, not ${v}`;
  if (v > max) return `${what} ${v} is absurdly large (at most ${max})`;
  return undefined;
}

function flatten(layers: readonly LayerAst[], out: FlatLayer[], diags: Diagnostic[]): void {
  for (const layer of layers) {
    if (out.length > MAX_LAYERS) return;
    if (layer.kind === 'repeat') {
      const count = layer.count.value;
      const bad = checkInt(count, 'repeat count', MAX_REPEAT);
      if (bad) {
        diags.push(error(bad, layer.count.span));
        continue;
      }
      for (let i = 0; i < count; i++) {
        flatten(layer.body, out, diags);
        if (out.length > MAX_LAYERS) {
          diags.push(
            error(`the model expands to more than ${MAX_LAYERS} layers`, layer.count.span),
          );
          return;
        }
      }
      continue;
    }
    const op = lowerLayer(layer, diags);
    if (op) out.push({ op, span: layer.span });
  }
}

function lowerLayer(layer: Exclude<LayerAst, { kind: 'repeat' }>, diags: Diagnostic[]): Op | null {
  const need = (n: NumberAst, what: string, max: number): boolean => {
    const bad = checkInt(n.value, what, max);
    if (bad) diags.push(error(bad, n.span));
    return !bad;
  };
  switch (layer.kind) {
    case 'conv': {
      const k = layer.kernel.value;
      let ok = true;
      if (k !== 1 && k !== 3) {
        diags.push(
          error(`conv kernel must be 1 or 3 (conv1-C or conv3-C), not ${k}`, layer.kernel.span),
        );
        ok = false;
      }
      ok = need(layer.channels, 'conv output channels', MAX_CHANNELS) && ok;
      if (!ok) return null;
      return { op: 'conv', kernel: k, pad: (k - 1) / 2, cout: layer.channels.value, epilogue: [] };
    }
    case 'fc':
      return need(layer.units, 'FC units', MAX_UNITS)
        ? { op: 'fc', units: layer.units.value, epilogue: [] }
        : null;
    case 'maxpool':
      return { op: 'maxpool' };
    case 'softmax':
      return { op: 'softmax' };
    case 'dropout': {
      const p = layer.p.value;
      if (!(p >= 0 && p < 1)) {
        diags.push(error(`dropout probability must be in [0, 1), not ${p}`, layer.p.span));
        return null;
      }
      return { op: 'dropout', p };
    }
    case 'lrn':
      return lowerLrn(layer, diags);
  }
}

function lowerLrn(layer: LrnAst, diags: Diagnostic[]): Op | null {
  const values: Record<string, number> = { ...LRN_DEFAULTS };
  const seen = new Set<string>();
  let ok = true;
  for (const arg of layer.params) {
    const name = arg.name.toLowerCase();
    const v = arg.value.value;
    if (!(name in LRN_DEFAULTS)) {
      diags.push(
        error(`unknown LRN parameter '${arg.name}' (known: n, alpha, beta, k)`, arg.nameSpan),
      );
      ok = false;
      continue;
    }
    if (seen.has(name)) {
      diags.push(error(`LRN parameter '${name}' is given twice`, arg.nameSpan));
      ok = false;
      continue;
    }
    seen.add(name);
    const bad =
      name === 'n'
        ? checkInt(v, 'LRN size n', 1024)
        : name === 'k'
          ? v >= 0 && Number.isFinite(v)
            ? undefined
            : `LRN k must be a number >= 0, not ${v}`
          : v >= 0 && Number.isFinite(v)
            ? undefined
            : `LRN ${name} must be a number >= 0, not ${v}`;
    if (bad) {
      diags.push(error(bad, arg.value.span));
      ok = false;
      continue;
    }
    values[name] = v;
  }
  if (values.k === 0 && values.beta! > 0) {
    diags.push(error('LRN with k = 0 divides by zero on all-zero inputs: use k > 0', layer.span));
    ok = false;
  }
  if (!ok) return null;
  return { op: 'lrn', n: values.n!, alpha: values.alpha!, beta: values.beta!, k: values.k! };
}

/** Layer order rules: nothing spatial after an FC, nothing after soft-max. */
function checkOrder(layers: readonly FlatLayer[], diags: Diagnostic[]): void {
  let seenFc = false;
  let softmaxAt: Span | undefined;
  for (const { op, span } of layers) {
    if (softmaxAt) {
      diags.push(error(`'${describe(op)}' after soft-max: soft-max must be the last layer`, span));
      return;
    }
    if (op.op === 'softmax') softmaxAt = span;
    if (op.op === 'fc') seenFc = true;
    else if (seenFc && (op.op === 'conv' || op.op === 'maxpool' || op.op === 'lrn')) {
      diags.push(
        error(
          `'${describe(op)}' after an FC layer: convolutions, pooling and LRN must come before the first FC`,
          span,
        ),
      );
      return;
    }
  }
}

/** A layer in the paper's notation: `conv3-64`, `FC-4096`, `maxpool`. */
export function describe(op: Op): string {
  switch (op.op) {
    case 'input':
      return `input ${op.shape.join('x')}`;
    case 'conv':
      return op.kernelW !== undefined && op.kernelW !== op.kernel
        ? `conv${op.kernel}x${op.kernelW}-${op.cout}`
        : `conv${op.kernel}-${op.cout}`;
    case 'fc':
      return `FC-${op.units}`;
    case 'dropout':
      return `dropout ${op.p}`;
    case 'lrn':
      return 'LRN';
    case 'softmax':
      return 'soft-max';
    default:
      return op.op;
  }
}
