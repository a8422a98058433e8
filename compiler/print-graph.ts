/**
 * The Graph IR as text, one node a line, for people: `vggc compile --dump-passes DIR` writes the
 * graph after each pass in this form (as MLIR's print-ir-after-all does), so a diff of two
 * numbered files shows what one pass did.
 *
 *     %1 = conv3-4+relu %0                             @features.0    : 4x8x8
 *     %15 = fc-grad-data{mask=false} %13               @classifier.0  : 4x4x4
 *     %18 = conv-grad-weight{kernel=3, pad=1} %0, %17  @features.0
 */
import { describe } from './lower.js';
import { formatShape, isTrainingOp, type Graph, type Node } from './ir.js';

export function printGraph(g: Graph): string {
  const lines = g.nodes.map(printNode);
  const w0 = Math.max(0, ...lines.map((l) => l[0].length));
  const w1 = Math.max(0, ...lines.map((l) => l[1].length));
  const body = lines.map(([head, param, shape]) =>
    `  ${head.padEnd(w0)}  ${param.padEnd(w1)}  ${shape}`.trimEnd(),
  );
  return [`graph ${g.name} (${g.nodes.length} nodes)`, ...body, ''].join('\n');
}

/** `%id = op inputs`, `@param`, `: shape` of one node (no shape for parameter-sized outputs). */
function printNode(n: Node): [string, string, string] {
  const op = n.op;
  let name: string;
  if (isTrainingOp(op)) {
    const attrs = Object.entries(op)
      .filter(([k]) => k !== 'op')
      .map(([k, v]) => `${k}=${Array.isArray(v) ? `[${v.join(', ')}]` : String(v)}`);
    name = op.op + (attrs.length ? `{${attrs.join(', ')}}` : '');
  } else {
    const steps = 'epilogue' in op ? op.epilogue : [];
    name =
      describe(op) +
      steps
        .map((s) =>
          s.kind === 'dropout' ? `+dropout{p=${s.p}, stream=${s.stream}}` : `+${s.kind}`,
        )
        .join('');
  }
  const inputs = n.inputs.map((i) => `%${i}`).join(', ');
  const head = `%${n.id} = ${name}${inputs ? ` ${inputs}` : ''}`;
  const shape = n.out && n.out[0] > 0 ? `: ${formatShape(n.out)}` : '';
  return [head, n.param ? `@${n.param}` : '', shape];
}
