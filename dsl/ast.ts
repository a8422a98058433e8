/**
 * The syntax tree of a .vgg file: what the user wrote, with positions, and nothing inferred.
 * Shapes, implicit ReLUs and validation of values belong to compiler/.
 */
import type { Span } from './diagnostics.js';

export interface FileAst {
  readonly file: string;
  readonly models: readonly ModelAst[];
}

export interface ModelAst {
  readonly name: string;
  readonly nameSpan: Span;
  readonly span: Span;
  /** `input CxHxW`; absent when the model does not declare one. */
  readonly input?: InputAst;
  readonly layers: readonly LayerAst[];
  /** `train { ... }` and `test { ... }` blocks, in source order. */
  readonly settings: readonly SettingsBlockAst[];
}

export interface InputAst {
  readonly c: number;
  readonly h: number;
  readonly w: number;
  readonly span: Span;
}

/** A numeric literal and where it was written. */
export interface NumberAst {
  readonly value: number;
  readonly span: Span;
}

export type LayerAst = ConvAst | MaxPoolAst | LrnAst | FcAst | DropoutAst | SoftmaxAst | RepeatAst;

/** `convK-C`: K x K kernel, C output channels, stride 1, padding floor(K/2). */
export interface ConvAst {
  readonly kind: 'conv';
  readonly kernel: NumberAst;
  readonly channels: NumberAst;
  readonly span: Span;
}

/** `maxpool`: 2x2 window, stride 2. */
export interface MaxPoolAst {
  readonly kind: 'maxpool';
  readonly span: Span;
}

/** `LRN` or `LRN(n=5, alpha=1e-4, beta=0.75, k=2)`; unset parameters take AlexNet's values. */
export interface LrnAst {
  readonly kind: 'lrn';
  readonly params: readonly NamedArgAst[];
  readonly span: Span;
}

export interface NamedArgAst {
  readonly name: string;
  readonly nameSpan: Span;
  readonly value: NumberAst;
}

/** `FC-N`. */
export interface FcAst {
  readonly kind: 'fc';
  readonly units: NumberAst;
  readonly span: Span;
}

/** `dropout P`. */
export interface DropoutAst {
  readonly kind: 'dropout';
  readonly p: NumberAst;
  readonly span: Span;
}

/** `soft-max` or `softmax`. */
export interface SoftmaxAst {
  readonly kind: 'softmax';
  readonly span: Span;
}

/** `layer xN` or `(layers) xN`. */
export interface RepeatAst {
  readonly kind: 'repeat';
  readonly body: readonly LayerAst[];
  readonly count: NumberAst;
  readonly span: Span;
}

/**
 * `train { batch 256, lr 0.01, scale 256..512 }` or `test { scales 256, 384, 512; flip }`.
 * The parser keeps every entry as written; compiler/settings.ts checks names and values.
 */
export interface SettingsBlockAst {
  readonly kind: 'train' | 'test';
  readonly entries: readonly SettingAst[];
  readonly span: Span;
}

/**
 * One setting: a key and zero or more values. `flip` has none; `lr 0.01` has one;
 * `scales 256 384 512` has three; `scale 256..512` is a range (two values, `range` true).
 */
export interface SettingAst {
  readonly key: string;
  readonly keySpan: Span;
  readonly values: readonly NumberAst[];
  readonly range: boolean;
  readonly span: Span;
}
