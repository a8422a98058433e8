/**
 * Graph -> .vgg text in the paper's notation (`conv3-64 x2, maxpool`, `FC-4096, dropout 0.5`).
 *
 * The inverse of lowering for forward graphs: the implicit ReLUs after convs and FCs are left
 * out, runs of equal convs become `xN`, and each maxpool, FC and soft-max ends a line. Parsing
 * and lowering the text gives back the same nodes (test/print.test.ts). The ONNX importer
 * (compiler/onnx/import.ts) writes its models with it. Training graphs and fused graphs have no
 * .vgg form: they are refused.
 */
import type { Graph, Op, TestSettings, TrainSettings } from './ir.js';

/** A number as the DSL's NUMBER token writes it: no sign, no leading '.', exponent allowed. */
export function formatNumber(v: number): string {
  if (!Number.isFinite(v) || v < 0) throw new Error(`internal: ${v} has no .vgg form`);
  return String(v).replace('e+', 'e');
}

/** A model name the DSL's IDENT accepts, made from any text (`vgg16-7.onnx` -> `vgg16-7`). */
export function modelName(text: string): string {
  let name = text
    .replace(/[^A-Za-z0-9_-]+/g, '_')
    .replace(/-+(?=-|$)/g, '')
    .replace(/^[^A-Za-z]+/, '');
  if (!name) name = 'imported';
  return name;
}

function layer(op: Op): string | undefined {
  switch (op.op) {
    case 'conv':
      if (op.pad !== (op.kernel - 1) / 2 || op.epilogue.length)
        throw new Error(`internal: conv${op.kernel} with padding ${op.pad} has no .vgg form`);
      return `conv${op.kernel}-${op.cout}`;
    case 'fc':
      if (op.epilogue.length) throw new Error('internal: a fused FC has no .vgg form');
      return `FC-${op.units}`;
    case 'maxpool':
      return 'maxpool';
    case 'dropout':
      return `dropout ${formatNumber(op.p)}`;
    case 'softmax':
      return 'soft-max';
    case 'lrn':
      return (
        `LRN(n=${formatNumber(op.n)}, alpha=${formatNumber(op.alpha)}, ` +
        `beta=${formatNumber(op.beta)}, k=${formatNumber(op.k)})`
      );
    case 'relu':
    case 'input':
      return undefined;
    default:
      throw new Error(`internal: '${op.op}' (a training op) has no .vgg form`);
  }
}

function settingsLines(train: TrainSettings, test: TestSettings): string[] {
  const t: string[] = [];
  if (train.batch !== undefined) t.push(`batch ${train.batch}`);
  if (train.lr !== undefined) t.push(`lr ${formatNumber(train.lr)}`);
  if (train.momentum !== undefined) t.push(`momentum ${formatNumber(train.momentum)}`);
  if (train.weightDecay !== undefined) t.push(`weight-decay ${formatNumber(train.weightDecay)}`);
  if (train.dropout !== undefined) t.push(`dropout ${formatNumber(train.dropout)}`);
  if (train.scale !== undefined) {
    const { min, max } = train.scale;
    t.push(min === max ? `scale ${min}` : `scale ${min}..${max}`);
  }
  if (train.epochs !== undefined) t.push(`epochs ${train.epochs}`);
  const q: string[] = [];
  if (test.scales !== undefined) q.push(`scales ${test.scales.join(', ')}`);
  if (test.flip) q.push('flip');
  const lines: string[] = [];
  if (t.length) lines.push(`train { ${t.join('; ')} }`);
  if (q.length) lines.push(`test { ${q.join('; ')} }`);
  return lines;
}

/** The .vgg text of a forward graph; `comment` lines go above the model, `# ` prefixed. */
export function printVgg(graph: Graph, comment: readonly string[] = []): string {
  const input = graph.nodes[0]?.op;
  if (input?.op !== 'input') throw new Error('internal: the graph does not start with its input');
  const lines: string[] = [];
  let line: string[] = [];
  let run: { text: string; count: number } | undefined;
  const flushRun = () => {
    if (run) line.push(run.count > 1 ? `${run.text} x${run.count}` : run.text);
    run = undefined;
  };
  const endLine = () => {
    flushRun();
    if (line.length) lines.push(line.join(', '));
    line = [];
  };
  for (const node of graph.nodes.slice(1)) {
    const text = layer(node.op);
    if (text === undefined) continue;
    if (node.op.op === 'conv') {
      if (run?.text === text) run.count++;
      else {
        flushRun();
        run = { text, count: 1 };
      }
      continue;
    }
    flushRun();
    // An FC or soft-max opens a line; a maxpool closes one.
    if (node.op.op === 'fc' || node.op.op === 'softmax') endLine();
    line.push(text);
    if (node.op.op === 'maxpool') endLine();
  }
  endLine();
  const body = [
    `input ${input.shape.join('x')}`,
    ...settingsLines(graph.train, graph.test),
    ...lines,
  ];
  return [
    ...comment.map((c) => `# ${c}`),
    `model ${graph.name} {`,
    ...body.map((l) => `  ${l}`),
    '}',
    '',
  ].join('\n');
}
