/** `vggc check FILE [--model NAME] [--input CxHxW] [--json]` */
import { checkSource, parseShapeArg } from '../compiler/frontend.js';
import { formatShape } from '../compiler/ir.js';
import { summarize } from '../compiler/summary.js';
import { readSource } from './source.js';
import { grouped, renderTable, si } from './table.js';

export interface CheckFlags {
  readonly model?: string;
  readonly input?: string;
  readonly json?: boolean;
}

export function runCheck(file: string, flags: CheckFlags, out: (s: string) => void): void {
  const source = readSource(file);
  const graph = checkSource(source, {
    ...(flags.model !== undefined ? { model: flags.model } : {}),
    ...(flags.input !== undefined ? { input: parseShapeArg(flags.input) } : {}),
  });
  const s = summarize(graph);
  if (flags.json) {
    out(JSON.stringify(s));
    return;
  }
  const rows = s.layers.map((l) => [
    l.op,
    formatShape(l.out),
    l.params ? grouped(l.params) : '',
    l.macs ? si(l.macs) : '',
  ]);
  rows.push(['total', '', grouped(s.params), si(s.macs)]);
  out(`model ${s.model}, input ${formatShape(s.input)}`);
  out(
    renderTable(['layer', 'output CxHxW', 'params', 'MACs'], rows, [
      'left',
      'left',
      'right',
      'right',
    ]),
  );
  out(
    `${s.model}: ${grouped(s.params)} parameters, ${grouped(s.macs)} multiply-accumulates per image`,
  );
}
