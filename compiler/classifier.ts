/**
 * The rule that makes a model a classifier (grammar.md, "Classifiers"): its last layer with
 * weights is an FC layer, `FC-N`, optionally followed by dropout and soft-max; N is its number
 * of classes. `vggc train`, `eval` and `classify` (and the library calls behind them) ask for the
 * class count here, so that a model without an FC layer is refused with a positioned error
 * instead of being trained as if its last convolution's channels were classes.
 */
import { fail } from '../dsl/diagnostics.js';
import { describe } from './lower.js';
import type { TypedGraph } from './shapes.js';

/** The number of classes of `graph`, a classifier; a positioned VggcError if it is not one. */
export function classifierClasses(graph: TypedGraph): number {
  const last = graph.nodes.findLast((n) => n.op.op === 'conv' || n.op.op === 'fc');
  if (!last) {
    fail(
      `model '${graph.name}' has no layers with weights: a classifier ends in an FC layer ` +
        `(FC-N for N classes)`,
      graph.span,
    );
  }
  if (last.op.op !== 'fc') {
    fail(
      `model '${graph.name}' ends in '${describe(last.op)}', not an FC layer: a classifier's ` +
        `last layer with weights is FC-N, N being its number of classes (add FC-N after it)`,
      last.span ?? graph.span,
    );
  }
  return last.op.units;
}
