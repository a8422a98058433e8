/**
 * Tokens of the .vgg language (chevrotain).
 *
 * Layer names that carry numbers lex as one token each (`conv3-64`, `FC-4096`, the repeat
 * count `x2`, the input shape `3x224x224`); parser.ts takes the numbers back out of the token
 * text with their own positions. Keywords are case-insensitive and fall back to `Identifier`
 * when a longer word matches (`models`, `conv3-64a`), so a misspelt layer reaches the parser as
 * an identifier and is reported as `unknown layer 'NAME'`.
 *
 * Newlines are tokens: they separate layers and settings. Spaces, tabs and `#` comments are
 * skipped.
 */
import { createToken, Lexer, type TokenType } from 'chevrotain';

/** Every word-like token: model names, setting keys and LRN argument names accept any of them. */
export const Name = createToken({ name: 'Name', pattern: Lexer.NA });

/*
 * Stray tokens: in each kind of list (the file, a model's body, a group, a settings block), the
 * tokens that can neither start an entry, separate entries nor end the list. The parser consumes
 * them one at a time as list items and reports them, rather than leaving the list, which keeps
 * recovery iterative (chevrotain's in-list recovery recurses once per error and overflows the
 * stack on a file with thousands of bad lines).
 */
export const StrayAtTop = createToken({ name: 'StrayAtTop', pattern: Lexer.NA });
export const StrayInModel = createToken({ name: 'StrayInModel', pattern: Lexer.NA });
export const StrayInGroup = createToken({ name: 'StrayInGroup', pattern: Lexer.NA });
export const StrayInSettings = createToken({ name: 'StrayInSettings', pattern: Lexer.NA });
const strayEverywhere = [StrayAtTop, StrayInModel, StrayInGroup, StrayInSettings];

export const Identifier = createToken({
  name: 'Identifier',
  pattern: /[A-Za-z_][A-Za-z0-9_]*(?:-[A-Za-z0-9_]+)*/,
  categories: [Name, StrayAtTop],
});

function keyword(name: string, pattern: RegExp, stray: TokenType[]): TokenType {
  return createToken({ name, pattern, longer_alt: Identifier, categories: [Name, ...stray] });
}

export const Model = keyword('Model', /model/i, []);
export const Input = keyword('Input', /input/i, [StrayAtTop, StrayInGroup]);
export const Train = keyword('Train', /train/i, [StrayAtTop, StrayInGroup]);
export const Test = keyword('Test', /test/i, [StrayAtTop, StrayInGroup]);
/** `convK-C`, e.g. `conv3-64`. */
export const Conv = keyword('Conv', /conv\d+-\d+/i, [StrayAtTop]);
export const MaxPool = keyword('MaxPool', /maxpool/i, [StrayAtTop]);
export const Lrn = keyword('Lrn', /lrn/i, [StrayAtTop]);
/** `FC-N`, e.g. `FC-4096`. */
export const Fc = keyword('Fc', /fc-\d+/i, [StrayAtTop]);
export const Dropout = keyword('Dropout', /dropout/i, [StrayAtTop]);
/** `soft-max` or `softmax`. */
export const Softmax = keyword('Softmax', /soft-?max/i, [StrayAtTop]);
/** A repeat count written as one word: `x2`, `X3`. */
export const RepeatX = keyword('RepeatX', /x\d+/i, [StrayAtTop, StrayInModel, StrayInGroup]);
/** A lone `x`, for a repeat count written `x 2`. */
export const Times = keyword('Times', /x/i, [StrayAtTop, StrayInModel, StrayInGroup]);

/** The input shape `CxHxW`, e.g. `3x224x224` (no spaces). Must come before `NumberLit`. */
export const Dims = createToken({
  name: 'Dims',
  pattern: /\d+[xX]\d+[xX]\d+/,
  categories: strayEverywhere,
});
/** `64`, `0.5`, `5e-4`, `1.5E+3`. */
export const NumberLit = createToken({
  name: 'NumberLit',
  pattern: /\d+(?:\.\d+)?(?:[eE][+-]?\d+)?/,
  categories: strayEverywhere,
});

function punctuation(name: string, pattern: RegExp, stray: TokenType[]): TokenType {
  return createToken({ name, pattern, categories: stray });
}

export const Range = punctuation('Range', /\.\./, strayEverywhere);
export const LCurly = punctuation('LCurly', /\{/, strayEverywhere);
export const RCurly = punctuation('RCurly', /\}/, [StrayAtTop]);
export const LParen = punctuation('LParen', /\(/, [StrayAtTop, StrayInSettings]);
export const RParen = punctuation('RParen', /\)/, [StrayAtTop, StrayInModel, StrayInSettings]);
export const Comma = punctuation('Comma', /,/, [StrayAtTop]);
export const Semicolon = punctuation('Semicolon', /;/, [StrayAtTop, StrayInModel, StrayInGroup]);
export const Equals = punctuation('Equals', /=/, strayEverywhere);
export const Newline = createToken({ name: 'Newline', pattern: /\r\n|\r|\n/, line_breaks: true });

export const WhiteSpace = createToken({
  name: 'WhiteSpace',
  pattern: /[ \t\f\v\u00a0\ufeff]+/,
  group: Lexer.SKIPPED,
});
export const Comment = createToken({
  name: 'Comment',
  pattern: /#[^\r\n]*/,
  group: Lexer.SKIPPED,
});

/**
 * A run of characters that cannot start any token, in the group `unexpected` (not in the token
 * vector the parser reads): dsl/index.ts reports each run as one `unexpected character`. Matching
 * them as tokens rather than leaving them to chevrotain's lexer recovery, which retries every
 * pattern at every offset, keeps lexing a large binary or garbage file linear and fast.
 */
export const Unexpected = createToken({
  name: 'Unexpected',
  pattern: /(?:[^ \t\f\v\u00a0\ufeff#\r\n0-9{}(),;=A-Za-z_.]|\.(?!\.))+/,
  group: 'unexpected',
  line_breaks: false,
  // chevrotain cannot derive the first characters of a complement set: list them (every code
  // below 256 that starts no token, and one code per 256-wide block above, which is how
  // chevrotain buckets those), so the lexer keeps its first-character optimisation.
  start_chars_hint: [
    ...Array.from({ length: 256 }, (_, c) => c).filter(
      (c) => c === 0x2e || !/[ \t\f\v\u00a0#\r\n0-9{}(),;=A-Za-z_]/.test(String.fromCharCode(c)),
    ),
    ...Array.from({ length: 255 }, (_, k) => 256 * (k + 1)),
  ],
});

/** In matching order: the first pattern that matches wins (keywords defer to longer identifiers). */
export const allTokens: TokenType[] = [
  WhiteSpace,
  Comment,
  Newline,
  Dims,
  NumberLit,
  Range,
  LCurly,
  RCurly,
  LParen,
  RParen,
  Comma,
  Semicolon,
  Equals,
  Model,
  Input,
  Train,
  Test,
  Conv,
  MaxPool,
  Lrn,
  Fc,
  Dropout,
  Softmax,
  RepeatX,
  Times,
  Identifier,
  Unexpected,
  Name,
  StrayAtTop,
  StrayInModel,
  StrayInGroup,
  StrayInSettings,
];

/** Offsets only: LineMap (parser.ts) turns them into lines and columns when a message needs one. */
export const vggLexer = new Lexer(allTokens, {
  positionTracking: 'onlyOffset',
  ensureOptimizations: true,
});
