/** A VGG-style training graph (autodiff output) shared by the training-fusion pass tests. */
import { checkSource } from '../compiler/frontend.js';
import { autodiff } from '../compiler/passes/autodiff.js';
import type { TypedGraph } from '../compiler/shapes.js';

export const vgg = autodiff(
  checkSource({
    name: 'v.vgg',
    text: `model v { input 3x16x16
      conv3-4, conv3-4, maxpool
      conv3-8, maxpool
      FC-10, dropout 0.5, FC-5, soft-max }`,
  }),
);
export const ops = (g: TypedGraph) => g.nodes.map((n) => n.op.op);
export const count = (g: TypedGraph, op: string) => ops(g).filter((o) => o === op).length;
