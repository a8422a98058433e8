/**
 * The .vgg grammar as a chevrotain CstParser (error recovery on), the messages it reports, and
 * the conversion of its concrete syntax tree into the AST of ast.ts.
 *
 * grammar.md at the repository root states the same grammar in EBNF; keep the two in step.
 *
 * Lists (the file, a model's body, a group, a settings block) are parsed leniently as any
 * sequence of entries, separators and stray tokens (tokens that can neither start, separate nor
 * end an entry there; see the Stray* categories in lexer.ts). The conversion then reports the
 * strays and any two entries with no separator between them. So a list only ends at its closing
 * bracket (or at `model` / end of file when that is missing), one bad line gives one diagnostic,
 * and recovery never recurses. Inside an entry, chevrotain's own recovery (token insertion and
 * deletion, resynchronisation) handles what goes wrong; its messages are reworded below.
 *
 * The conversion keeps only well-formed nodes: a layer, group, input or setting holding a token
 * that recovery invented, or missing one, is left out (its error has been reported). A model or
 * settings block missing only its closing `}` keeps its well-formed contents.
 */
import { CstParser, EOF, tokenMatcher } from 'chevrotain';
import type {
  CstNode,
  CstElement,
  IParserErrorMessageProvider,
  IRecognitionException,
  IToken,
  TokenType,
} from 'chevrotain';
import type {
  FileAst,
  InputAst,
  LayerAst,
  LrnAst,
  ModelAst,
  NamedArgAst,
  NumberAst,
  RepeatAst,
  SettingAst,
  SettingsBlockAst,
} from './ast.js';
import { lineStarts, type Diagnostic, type Span } from './diagnostics.js';
import {
  allTokens,
  Comma,
  Conv,
  Dims,
  Dropout,
  Equals,
  Fc,
  Identifier,
  Input,
  LCurly,
  LParen,
  Lrn,
  MaxPool,
  Model,
  Name,
  Newline,
  NumberLit,
  Range,
  RCurly,
  RepeatX,
  RParen,
  Semicolon,
  Softmax,
  StrayAtTop,
  StrayInGroup,
  StrayInModel,
  StrayInSettings,
  Test,
  Times,
  Train,
} from './lexer.js';

// ---------------------------------------------------------------------------------------------
// Messages

const tokenDescriptions = new Map<TokenType, string>([
  [Newline, 'a new line'],
  [Comma, "','"],
  [Semicolon, "';'"],
  [LCurly, "'{'"],
  [RCurly, "'}'"],
  [LParen, "'('"],
  [RParen, "')'"],
  [Equals, "'='"],
  [Range, "'..'"],
  [NumberLit, 'a number'],
  [Dims, 'an input shape CxHxW'],
  [Identifier, 'a name'],
  [Name, 'a name'],
  [Model, "'model'"],
  [Input, "'input'"],
  [Train, "'train'"],
  [Test, "'test'"],
  [Conv, 'a convolution convK-C'],
  [MaxPool, "'maxpool'"],
  [Lrn, "'LRN'"],
  [Fc, 'a fully connected layer FC-N'],
  [Dropout, "'dropout'"],
  [Softmax, "'soft-max'"],
  [RepeatX, 'a repeat count xN'],
  [Times, "'x'"],
  [EOF, 'end of file'],
]);

const strayCategories = new Set<TokenType>([
  StrayAtTop,
  StrayInModel,
  StrayInGroup,
  StrayInSettings,
]);

function describeType(type: TokenType): string {
  return tokenDescriptions.get(type) ?? `'${type.name}'`;
}

/** How a found token reads in a message: `'x2'`, `a new line`, `end of file`. */
export function describeToken(token: IToken | undefined): string {
  if (!token || token.tokenType === EOF) return 'end of file';
  if (token.tokenType === Newline) return 'a new line';
  const image = token.image.length > 32 ? `${token.image.slice(0, 29)}...` : token.image;
  return `'${image}'`;
}

function isSeparator(token: IToken | undefined): boolean {
  if (!token) return true;
  const t = token.tokenType;
  return t === Comma || t === Newline || t === Semicolon || t === LCurly || t === LParen;
}

function isEnd(token: IToken): boolean {
  return token.tokenType === EOF;
}

/** The tokens being parsed, so that a message can look at the token before the offending one. */
let activeTokens: readonly IToken[] = [];

/**
 * The token of `tokens` just before `actual` (for messages, chevrotain's `previous` is not
 * reliable: after in-repetition recovery it is the last skipped token).
 */
function tokenBefore(
  tokens: readonly IToken[],
  actual: IToken,
  skipNewlines = false,
): IToken | undefined {
  let i = Number.isFinite(actual.startOffset)
    ? firstAtOrAfter(tokens, actual.startOffset) - 1
    : tokens.length - 1;
  while (skipNewlines && i >= 0 && tokens[i]!.tokenType === Newline) i--;
  return tokens[i];
}

/** Compiler-style wording for chevrotain's errors, keyed on the rule and the expected token. */
const messages: IParserErrorMessageProvider = {
  buildMismatchTokenMessage({ expected, actual, ruleName }) {
    const previous = tokenBefore(activeTokens, actual);
    const found = describeToken(actual);
    const word = tokenBefore(activeTokens, actual, true);
    const after = word ? describeToken(word) : 'the start of the file';
    switch (ruleName) {
      case 'file':
        return `expected 'model', found ${found}`;
      case 'model':
        if (expected === Name) return `expected a model name after 'model', found ${found}`;
        if (expected === LCurly) return `expected '{' after the model name, found ${found}`;
        if (expected === RCurly) {
          if (isEnd(actual) || actual.tokenType === Model)
            return `expected '}' at the end of the model, found ${found}`;
          if (isSeparator(previous)) return `expected a layer, found ${found}`;
          return `expected ',' or a new line between layers, found ${found}`;
        }
        break;
      case 'group':
        if (expected === RParen) {
          if (isEnd(actual) || actual.tokenType === RCurly || actual.tokenType === Model)
            return `expected ')' to close the group, found ${found}`;
          if (isSeparator(previous)) return `expected a layer or ')', found ${found}`;
          return `expected ',' or a new line between layers, found ${found}`;
        }
        break;
      case 'settingsBlock':
        if (expected === LCurly) return `expected '{' after ${after}, found ${found}`;
        if (expected === RCurly) {
          if (isEnd(actual) || actual.tokenType === Model)
            return `expected '}' at the end of the settings block, found ${found}`;
          if (isSeparator(previous)) return `expected a setting name, found ${found}`;
          return `expected ';' or a new line between settings, found ${found}`;
        }
        break;
      case 'inputDecl':
        return `expected the input shape as CxHxW (e.g. 3x224x224), found ${found}`;
      case 'layer':
        if (expected === NumberLit) return `expected a number after ${after}, found ${found}`;
        break;
      case 'repeat':
        return `expected a repeat count after 'x', found ${found}`;
      case 'lrnArgs':
        if (expected === RParen) {
          if (previous?.tokenType === LParen)
            return `expected an LRN argument such as 'n=5', or ')', found ${found}`;
          return `expected ',' or ')' after an LRN argument, found ${found}`;
        }
        break;
      case 'namedArg':
        if (expected === Equals) return `expected '=' after ${after}, found ${found}`;
        if (expected === NumberLit) return `expected a number after '=', found ${found}`;
        if (expected === Name) return `expected an argument name, found ${found}`;
        break;
      case 'settingEntry':
        if (expected === NumberLit) return `expected a number after ${after}, found ${found}`;
        break;
    }
    return `expected ${describeType(expected)}, found ${found}`;
  },
  buildNotAllInputParsedMessage({ firstRedundant }) {
    return `expected 'model', found ${describeToken(firstRedundant)}`;
  },
  buildNoViableAltMessage({ expectedPathsPerAlt, actual, ruleName }) {
    const found = describeToken(actual[0]);
    if (ruleName === 'layer' || ruleName === 'item') return `expected a layer, found ${found}`;
    if (ruleName === 'repeat') return `expected a repeat count such as 'x2', found ${found}`;
    const firsts = new Set<string>();
    for (const alt of expectedPathsPerAlt)
      for (const path of alt) {
        const first = path[0];
        if (first && !strayCategories.has(first)) firsts.add(describeType(first));
      }
    const list = [...firsts];
    const expected =
      list.length <= 1
        ? (list[0] ?? 'something else')
        : `${list.slice(0, -1).join(', ')} or ${list[list.length - 1]}`;
    return `expected ${expected}, found ${found}`;
  },
  buildEarlyExitMessage({ actual }) {
    return `unexpected ${describeToken(actual[0])}`;
  },
};

// ---------------------------------------------------------------------------------------------
// Grammar

/** The parser stops after this many syntax errors; the rest of the file is not read. */
export const MAX_SYNTAX_ERRORS = 100;

/** Thrown out of the parser when it has recorded MAX_SYNTAX_ERRORS errors. */
class TooManyErrors extends Error {}

export class VggParser extends CstParser {
  constructor() {
    super(allTokens, {
      recoveryEnabled: true,
      maxLookahead: 3,
      errorMessageProvider: messages,
    });
    this.performSelfAnalysis();
    // Stop at MAX_SYNTAX_ERRORS: each error costs chevrotain a walk of the grammar (its message,
    // its recovery), so a huge file of misplaced tokens would otherwise take minutes. An error
    // that is not a recognition exception passes through every recovery path of chevrotain.
    const self = this as unknown as { SAVE_ERROR(e: IRecognitionException): IRecognitionException };
    const save = self.SAVE_ERROR.bind(this);
    self.SAVE_ERROR = (e) => {
      const saved = save(e);
      if (this.errors.length >= MAX_SYNTAX_ERRORS) throw new TooManyErrors();
      return saved;
    };
  }

  /**
   * Whether `{` comes next, after any new lines: new lines before a model's or a settings block's
   * `{` are skipped only then, so that a missing `{` is reported where the line ends.
   */
  private braceFollows(): boolean {
    let i = 1;
    while (tokenMatcher(this.LA(i), Newline)) i++;
    return tokenMatcher(this.LA(i), LCurly);
  }

  /**
   * No `{` is invented after `train`/`test`: the block would then run on and take the model's
   * `}`. Without it, recovery skips the broken block and the layers after it still parse.
   */
  protected override canTokenTypeBeInsertedInRecovery(tokType: TokenType): boolean {
    if (tokType !== LCurly) return true;
    const self = this as unknown as { getCurrRuleFullName?: () => string };
    return self.getCurrRuleFullName?.() !== 'settingsBlock';
  }

  /**
   * file = { newline } { model } EOF, where a model also takes the new lines after it.
   *
   * Text outside the models is consumed as stray tokens, before the first model here and after
   * each model by the model rule, never between the two: were a catch-all to follow `model` in
   * the grammar, every token would be a place to resynchronise at, and an error anywhere in a
   * model would end the model.
   */
  file = this.RULE('file', () => {
    this.MANY(() => {
      this.OR([{ ALT: () => this.CONSUME(Newline) }, { ALT: () => this.CONSUME(StrayAtTop) }]);
    });
    this.MANY2(() => this.SUBRULE(this.model));
    this.CONSUME(EOF);
  });

  /** model = "model" name { newline } "{" { entry | "," | newline } "}" { newline } */
  model = this.RULE('model', () => {
    this.CONSUME(Model);
    this.CONSUME(Name);
    this.MANY({ GATE: () => this.braceFollows(), DEF: () => this.CONSUME2(Newline) });
    this.CONSUME(LCurly);
    this.MANY2(() => {
      this.OR([
        { ALT: () => this.CONSUME(Newline) },
        { ALT: () => this.CONSUME(Comma) },
        { ALT: () => this.SUBRULE(this.inputDecl) },
        { ALT: () => this.SUBRULE(this.settingsBlock) },
        { ALT: () => this.SUBRULE(this.item) },
        { ALT: () => this.CONSUME(StrayInModel) },
      ]);
    });
    this.CONSUME(RCurly);
    this.MANY3(() => {
      this.OR2([{ ALT: () => this.CONSUME3(Newline) }, { ALT: () => this.CONSUME(StrayAtTop) }]);
    });
  });

  /** inputDecl = "input" dims */
  inputDecl = this.RULE('inputDecl', () => {
    this.CONSUME(Input);
    this.CONSUME(Dims);
  });

  /** item = ( layer | group ) [ repeat ] */
  item = this.RULE('item', () => {
    this.OR([{ ALT: () => this.SUBRULE(this.layer) }, { ALT: () => this.SUBRULE(this.group) }]);
    this.OPTION(() => this.SUBRULE(this.repeat));
  });

  /** repeat = xN | "x" number */
  repeat = this.RULE('repeat', () => {
    this.OR([
      { ALT: () => this.CONSUME(RepeatX) },
      {
        ALT: () => {
          this.CONSUME(Times);
          this.CONSUME(NumberLit);
        },
      },
    ]);
  });

  /** One layer; an unknown name (with an optional number) parses here and is reported later. */
  layer = this.RULE('layer', () => {
    this.OR([
      { ALT: () => this.CONSUME(Conv) },
      { ALT: () => this.CONSUME(MaxPool) },
      {
        ALT: () => {
          this.CONSUME(Lrn);
          this.OPTION(() => this.SUBRULE(this.lrnArgs));
        },
      },
      { ALT: () => this.CONSUME(Fc) },
      {
        ALT: () => {
          this.CONSUME(Dropout);
          this.CONSUME(NumberLit);
        },
      },
      { ALT: () => this.CONSUME(Softmax) },
      {
        ALT: () => {
          this.CONSUME(Identifier);
          this.OPTION2(() => this.CONSUME2(NumberLit));
        },
      },
    ]);
  });

  /** lrnArgs = "(" [ namedArg { "," namedArg } ] ")" */
  lrnArgs = this.RULE('lrnArgs', () => {
    this.CONSUME(LParen);
    this.OPTION(() => {
      this.SUBRULE(this.namedArg);
      this.MANY(() => {
        this.CONSUME(Comma);
        this.SUBRULE2(this.namedArg);
      });
    });
    this.CONSUME(RParen);
  });

  /** namedArg = name "=" number */
  namedArg = this.RULE('namedArg', () => {
    this.CONSUME(Name);
    this.CONSUME(Equals);
    this.CONSUME(NumberLit);
  });

  /** group = "(" { item | "," | newline } ")" */
  group = this.RULE('group', () => {
    this.CONSUME(LParen);
    this.MANY(() => {
      this.OR([
        { ALT: () => this.CONSUME(Newline) },
        { ALT: () => this.CONSUME(Comma) },
        { ALT: () => this.SUBRULE(this.item) },
        { ALT: () => this.CONSUME(StrayInGroup) },
      ]);
    });
    this.CONSUME(RParen);
  });

  /** settingsBlock = ( "train" | "test" ) { newline } "{" { settingEntry | ";" | "," | newline } "}" */
  settingsBlock = this.RULE('settingsBlock', () => {
    this.OR([{ ALT: () => this.CONSUME(Train) }, { ALT: () => this.CONSUME(Test) }]);
    this.MANY({ GATE: () => this.braceFollows(), DEF: () => this.CONSUME2(Newline) });
    this.CONSUME(LCurly);
    this.MANY2({
      // `model` ends an unclosed block rather than being read as a key
      GATE: () => !tokenMatcher(this.LA(1), Model),
      DEF: () => {
        this.OR2([
          { ALT: () => this.CONSUME(Newline) },
          { ALT: () => this.CONSUME(Semicolon) },
          { ALT: () => this.CONSUME(Comma) },
          { ALT: () => this.SUBRULE(this.settingEntry) },
          { ALT: () => this.CONSUME(StrayInSettings) },
        ]);
      },
    });
    this.CONSUME(RCurly);
  });

  /** settingEntry = name [ number ( ".." number | { [ "," ] number } ) ] */
  settingEntry = this.RULE('settingEntry', () => {
    this.CONSUME(Name);
    this.OPTION(() => {
      this.CONSUME(NumberLit);
      this.OR([
        {
          ALT: () => {
            this.CONSUME(Range);
            this.CONSUME2(NumberLit);
          },
        },
        {
          ALT: () =>
            this.MANY({
              // A comma continues the values only when a number follows; `, lr 0.01` starts a
              // new entry.
              GATE: () =>
                tokenMatcher(this.LA(1), NumberLit) ||
                (tokenMatcher(this.LA(1), Comma) && tokenMatcher(this.LA(2), NumberLit)),
              DEF: () => {
                this.OPTION2(() => this.CONSUME(Comma));
                this.CONSUME3(NumberLit);
              },
            }),
        },
      ]);
    });
  });
}

let parserInstance: VggParser | undefined;

/**
 * Parses a token vector with the shared parser (building one runs chevrotain's grammar analysis,
 * so it is made once). Returns the CST, partial where recovery kicked in, and the syntax errors.
 */
export function parseTokens(tokens: IToken[]): {
  cst: CstNode | undefined;
  errors: IRecognitionException[];
  /** True when the parser gave up after MAX_SYNTAX_ERRORS (no CST then). */
  stopped: boolean;
} {
  parserInstance ??= new VggParser();
  const parser = parserInstance;
  // Recovery throws and catches exceptions as control flow; capturing their stack traces is most
  // of its cost and nobody reads them.
  const stackTraceLimit = Error.stackTraceLimit;
  Error.stackTraceLimit = 0;
  // A copy: chevrotain pads the vector it parses with EOF sentinels while it runs.
  activeTokens = tokens.slice();
  try {
    parser.input = tokens;
    try {
      const cst = parser.file();
      return { cst, errors: [...parser.errors], stopped: false };
    } catch (e) {
      if (!(e instanceof TooManyErrors)) throw e;
      return { cst: undefined, errors: [...parser.errors], stopped: true };
    }
  } finally {
    Error.stackTraceLimit = stackTraceLimit;
    parser.input = [];
    activeTokens = [];
  }
}

// ---------------------------------------------------------------------------------------------
// Positions

/** Maps UTF-16 offsets to 1-based line and column; `\r\n`, `\r` and `\n` each end a line. */
export class LineMap {
  private readonly starts: number[];

  constructor(
    readonly file: string,
    readonly text: string,
  ) {
    this.starts = lineStarts(text);
  }

  span(offset: number, length: number): Span {
    const at = Math.max(
      0,
      Math.min(Number.isFinite(offset) ? offset : this.text.length, this.text.length),
    );
    const len = Math.max(0, Math.min(Number.isFinite(length) ? length : 0, this.text.length - at));
    let lo = 0;
    let hi = this.starts.length - 1;
    while (lo < hi) {
      const mid = (lo + hi + 1) >> 1;
      if ((this.starts[mid] ?? 0) <= at) lo = mid;
      else hi = mid - 1;
    }
    const lineStart = this.starts[lo] ?? 0;
    return { file: this.file, line: lo + 1, col: at - lineStart + 1, offset: at, length: len };
  }

  /** The span of a token; end of file when the token has no position (EOF, inserted tokens). */
  tokenSpan(token: IToken | undefined): Span {
    if (!token || !isReal(token)) return this.span(this.text.length, 0);
    return this.span(token.startOffset, token.image.length);
  }

  /** From the start of `from` to the end of `to`. */
  between(from: IToken, to: IToken): Span {
    return this.span(from.startOffset, to.startOffset + to.image.length - from.startOffset);
  }
}

/** The index of the first token (sorted by offset) at or after `offset`; `tokens.length` if none. */
export function firstAtOrAfter(tokens: readonly IToken[], offset: number): number {
  let lo = 0;
  let hi = tokens.length;
  while (lo < hi) {
    const mid = (lo + hi) >> 1;
    if (tokens[mid]!.startOffset < offset) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

function isReal(token: IToken | undefined): token is IToken {
  return (
    token !== undefined &&
    !token.isInsertedInRecovery &&
    token.tokenType !== EOF &&
    Number.isFinite(token.startOffset)
  );
}

// ---------------------------------------------------------------------------------------------
// CST -> AST

/**
 * A diagnostic found while converting, with a rank: when several land on the same offset, the
 * lowest rank is kept (a syntax error beats `unknown layer`, which beats a missing separator).
 */
export interface RankedDiagnostic {
  readonly diagnostic: Diagnostic;
  readonly rank: number;
}

export const RANK_LEXER = 0;
/** Chevrotain's errors. */
export const RANK_SYNTAX = 1;
/** A token that cannot start, separate or end an entry of the list it is in. */
export const RANK_STRAY = 2;
/** `unknown layer`, `empty group`, `input already declared`. */
export const RANK_SEMANTIC = 3;
/** Two entries with no separator between them. */
export const RANK_SEPARATOR = 4;

function isToken(el: CstElement): el is IToken {
  return (el as IToken).tokenType !== undefined;
}

function tokensOf(node: CstNode, key: string): IToken[] {
  return (node.children[key] ?? []).filter(isToken);
}

function nodesOf(node: CstNode, key: string): CstNode[] {
  return (node.children[key] ?? []).filter((el): el is CstNode => !isToken(el));
}

function tokenOf(node: CstNode, key: string): IToken | undefined {
  return tokensOf(node, key)[0];
}

interface Extent {
  readonly first: IToken;
  readonly last: IToken;
}

/** The first and last real tokens of a subtree; undefined when it has none. */
function extent(node: CstNode): Extent | undefined {
  let first: IToken | undefined;
  let last: IToken | undefined;
  const walk = (n: CstNode): void => {
    for (const list of Object.values(n.children)) {
      for (const el of list) {
        if (!isToken(el)) walk(el);
        else if (isReal(el)) {
          if (!first || el.startOffset < first.startOffset) first = el;
          if (!last || el.startOffset > last.startOffset) last = el;
        }
      }
    }
  };
  walk(node);
  return first && last ? { first, last } : undefined;
}

const unknownLayerHints: [RegExp, string][] = [
  [/^relu/i, '(ReLU follows every conv and FC implicitly)'],
  [/^conv/i, '(a convolution is written convK-C, e.g. conv3-64)'],
  [/^(fc|dense|linear)/i, '(a fully connected layer is written FC-N, e.g. FC-4096)'],
  [/pool/i, "(did you mean 'maxpool'?)"],
  [/^soft/i, "(did you mean 'soft-max'?)"],
  [/^drop/i, "(did you mean 'dropout P'?)"],
  [/^(lrn|norm)/i, "(did you mean 'LRN'?)"],
];

export class CstConverter {
  readonly diagnostics: RankedDiagnostic[] = [];

  /** `tokens`: the token vector that was parsed, to find what precedes a stray token. */
  constructor(
    private readonly lines: LineMap,
    private readonly tokens: readonly IToken[],
  ) {}

  /** Text outside the models: one diagnostic for a stretch of it, at its first token. */
  private outside(strays: IToken[]): void {
    const first = strays.filter(isReal).sort((a, b) => a.startOffset - b.startOffset)[0];
    if (first) {
      this.report(
        `expected 'model', found ${describeToken(first)}`,
        this.lines.tokenSpan(first),
        RANK_STRAY,
      );
    }
  }

  /**
   * Reports the stray tokens of one list. `opening` is the message when the stray follows a
   * separator or the list's opening bracket, `between` when it follows an entry.
   */
  private strays(strays: IToken[], opening: string, between: string): void {
    for (const stray of strays) {
      if (!isReal(stray)) continue;
      const before = tokenBefore(this.tokens, stray);
      const message = isSeparator(before) ? opening : between;
      this.report(
        `expected ${message}, found ${describeToken(stray)}`,
        this.lines.tokenSpan(stray),
        RANK_STRAY,
      );
    }
  }

  private report(message: string, span: Span, rank: number): void {
    this.diagnostics.push({ diagnostic: { severity: 'error', message, span }, rank });
  }

  private num(token: IToken): NumberAst {
    return { value: Number(token.image), span: this.lines.tokenSpan(token) };
  }

  /** A number written inside a token's text (`64` in `conv3-64`). */
  private numIn(token: IToken, digitsAt: number, digits: string): NumberAst {
    return {
      value: Number(digits),
      span: this.lines.span(token.startOffset + digitsAt, digits.length),
    };
  }

  file(cst: CstNode | undefined): FileAst {
    const models: ModelAst[] = [];
    if (cst) {
      this.outside(tokensOf(cst, 'StrayAtTop'));
      for (const node of nodesOf(cst, 'model')) {
        const model = this.guard(() => this.model(node));
        if (model) models.push(model);
      }
    }
    return { file: this.lines.file, models };
  }

  /** Runs one conversion step; a malformed subtree that trips it is dropped, not thrown. */
  private guard<T>(step: () => T | undefined): T | undefined {
    try {
      return step();
    } catch {
      return undefined;
    }
  }

  /**
   * Reports every pair of consecutive entries that has no separator between them. `entries` are
   * CST nodes, `separators` the separator tokens of the same list.
   */
  private checkSeparated(entries: CstNode[], separators: IToken[], what: string): void {
    const spans = entries
      .map((n) => extent(n))
      .filter((e): e is Extent => e !== undefined)
      .sort((a, b) => a.first.startOffset - b.first.startOffset);
    const seps = separators.filter(isReal).sort((a, b) => a.startOffset - b.startOffset);
    for (let i = 1; i < spans.length; i++) {
      const prev = spans[i - 1]!;
      const next = spans[i]!;
      const sep = seps[firstAtOrAfter(seps, prev.last.startOffset + 1)];
      if (!sep || sep.startOffset >= next.first.startOffset) {
        this.report(
          `expected ${what}, found ${describeToken(next.first)}`,
          this.lines.tokenSpan(next.first),
          RANK_SEPARATOR,
        );
      }
    }
  }

  private model(node: CstNode): ModelAst | undefined {
    const kw = tokenOf(node, 'Model');
    const name = tokenOf(node, 'Name');
    if (!isReal(kw) || !isReal(name)) return undefined;
    const inputs = nodesOf(node, 'inputDecl');
    const blocks = nodesOf(node, 'settingsBlock');
    const items = nodesOf(node, 'item');
    this.outside(tokensOf(node, 'StrayAtTop'));
    const close = tokenOf(node, 'RCurly');
    let end: IToken = name;
    if (isReal(close)) end = close;
    else {
      // No `}`: the model ends with the last thing in its body.
      const inside = [tokenOf(node, 'LCurly'), ...tokensOf(node, 'StrayInModel')];
      for (const n of [...inputs, ...blocks, ...items]) inside.push(extent(n)?.last);
      for (const t of inside) if (isReal(t) && t.startOffset > end.startOffset) end = t;
    }

    this.strays(tokensOf(node, 'StrayInModel'), 'a layer', "',' or a new line between layers");
    this.checkSeparated(
      [...inputs, ...blocks, ...items],
      [...tokensOf(node, 'Comma'), ...tokensOf(node, 'Newline')],
      "',' or a new line between layers",
    );

    let input: InputAst | undefined;
    for (const decl of inputs) {
      const parsed = this.guard(() => this.input(decl));
      if (!parsed) continue;
      if (input) {
        this.report(
          `input already declared at line ${input.span.line}`,
          parsed.span,
          RANK_SEMANTIC,
        );
      } else input = parsed;
    }

    const settings: SettingsBlockAst[] = [];
    for (const block of blocks) {
      const parsed = this.guard(() => this.settingsBlock(block));
      if (parsed) settings.push(parsed);
    }

    const layers = this.items(items);
    const model: ModelAst = {
      name: name.image,
      nameSpan: this.lines.tokenSpan(name),
      span: this.lines.between(kw, end),
      layers,
      settings,
    };
    return input ? { ...model, input } : model;
  }

  private input(node: CstNode): InputAst | undefined {
    const kw = tokenOf(node, 'Input');
    const dims = tokenOf(node, 'Dims');
    if (!isReal(kw) || !isReal(dims)) return undefined;
    const m = /^(\d+)[xX](\d+)[xX](\d+)$/.exec(dims.image);
    if (!m) return undefined;
    return {
      c: Number(m[1]),
      h: Number(m[2]),
      w: Number(m[3]),
      span: this.lines.between(kw, dims),
    };
  }

  private items(nodes: CstNode[]): LayerAst[] {
    const out: LayerAst[] = [];
    for (const node of nodes) {
      const layers = this.guard(() => this.item(node));
      if (layers) for (const layer of layers) out.push(layer);
    }
    return out;
  }

  /** One item: a layer or a group, and its repeat count. A group without a count is spliced in. */
  private item(node: CstNode): LayerAst[] | undefined {
    const layerNode = nodesOf(node, 'layer')[0];
    const groupNode = nodesOf(node, 'group')[0];
    let body: LayerAst[] | undefined;
    if (layerNode) {
      const layer = this.layer(layerNode);
      body = layer ? [layer] : undefined;
    } else if (groupNode) {
      body = this.group(groupNode);
    }
    const repeatNode = nodesOf(node, 'repeat')[0];
    if (!repeatNode) return body;
    const count = this.repeatCount(repeatNode);
    const ext = extent(node);
    if (!body || body.length === 0 || !count || !ext) return undefined;
    const repeat: RepeatAst = {
      kind: 'repeat',
      body,
      count,
      span: this.lines.span(
        ext.first.startOffset,
        count.span.offset + count.span.length - ext.first.startOffset,
      ),
    };
    return [repeat];
  }

  private repeatCount(node: CstNode): NumberAst | undefined {
    const x = tokenOf(node, 'RepeatX');
    if (x) return isReal(x) ? this.numIn(x, 1, x.image.slice(1)) : undefined;
    const times = tokenOf(node, 'Times');
    const n = tokenOf(node, 'NumberLit');
    if (!isReal(times) || !isReal(n)) return undefined;
    return this.num(n);
  }

  private group(node: CstNode): LayerAst[] | undefined {
    const open = tokenOf(node, 'LParen');
    const close = tokenOf(node, 'RParen');
    const items = nodesOf(node, 'item');
    this.strays(
      tokensOf(node, 'StrayInGroup'),
      "a layer or ')'",
      "',' or a new line between layers",
    );
    this.checkSeparated(
      items,
      [...tokensOf(node, 'Comma'), ...tokensOf(node, 'Newline')],
      "',' or a new line between layers",
    );
    if (!isReal(open) || !isReal(close)) {
      this.items(items); // still report what is wrong inside
      return undefined;
    }
    if (items.length === 0) {
      const inside = this.lines.text
        .slice(open.startOffset + 1, close.startOffset)
        .replace(/#[^\r\n]*/g, '')
        .replace(/[\s,]/g, '');
      if (inside !== '') return undefined; // what is there was reported as a syntax error
      this.report(
        'empty group: a group needs at least one layer',
        this.lines.between(open, close),
        RANK_SEMANTIC,
      );
      return undefined;
    }
    return this.items(items);
  }

  private layer(node: CstNode): LayerAst | undefined {
    const conv = tokenOf(node, 'Conv');
    if (conv) {
      const m = /^conv(\d+)-(\d+)$/i.exec(conv.image);
      if (!isReal(conv) || !m || m[1] === undefined || m[2] === undefined) return undefined;
      return {
        kind: 'conv',
        kernel: this.numIn(conv, 4, m[1]),
        channels: this.numIn(conv, 5 + m[1].length, m[2]),
        span: this.lines.tokenSpan(conv),
      };
    }
    const pool = tokenOf(node, 'MaxPool');
    if (pool)
      return isReal(pool) ? { kind: 'maxpool', span: this.lines.tokenSpan(pool) } : undefined;
    const lrn = tokenOf(node, 'Lrn');
    if (lrn) return this.lrn(node, lrn);
    const fc = tokenOf(node, 'Fc');
    if (fc) {
      const m = /^fc-(\d+)$/i.exec(fc.image);
      if (!isReal(fc) || !m || m[1] === undefined) return undefined;
      return { kind: 'fc', units: this.numIn(fc, 3, m[1]), span: this.lines.tokenSpan(fc) };
    }
    const dropout = tokenOf(node, 'Dropout');
    if (dropout) {
      const p = tokenOf(node, 'NumberLit');
      if (!isReal(dropout) || !isReal(p)) return undefined;
      return { kind: 'dropout', p: this.num(p), span: this.lines.between(dropout, p) };
    }
    const softmax = tokenOf(node, 'Softmax');
    if (softmax)
      return isReal(softmax) ? { kind: 'softmax', span: this.lines.tokenSpan(softmax) } : undefined;
    const ident = tokenOf(node, 'Identifier');
    if (isReal(ident)) {
      const hint = unknownLayerHints.find(([re]) => re.test(ident.image))?.[1];
      this.report(
        `unknown layer '${ident.image}'${hint ? ` ${hint}` : ''}`,
        this.lines.tokenSpan(ident),
        RANK_SEMANTIC,
      );
    }
    return undefined;
  }

  private lrn(node: CstNode, kw: IToken): LrnAst | undefined {
    if (!isReal(kw)) return undefined;
    const argsNode = nodesOf(node, 'lrnArgs')[0];
    if (!argsNode) return { kind: 'lrn', params: [], span: this.lines.tokenSpan(kw) };
    const close = tokenOf(argsNode, 'RParen');
    if (!isReal(tokenOf(argsNode, 'LParen')) || !isReal(close)) return undefined;
    const params: NamedArgAst[] = [];
    for (const arg of nodesOf(argsNode, 'namedArg')) {
      const name = tokenOf(arg, 'Name');
      const eq = tokenOf(arg, 'Equals');
      const value = tokenOf(arg, 'NumberLit');
      if (!isReal(name) || !isReal(eq) || !isReal(value)) return undefined;
      params.push({
        name: name.image,
        nameSpan: this.lines.tokenSpan(name),
        value: this.num(value),
      });
    }
    return { kind: 'lrn', params, span: this.lines.between(kw, close) };
  }

  private settingsBlock(node: CstNode): SettingsBlockAst | undefined {
    const kw = tokenOf(node, 'Train') ?? tokenOf(node, 'Test');
    if (!isReal(kw) || !isReal(tokenOf(node, 'LCurly'))) return undefined;
    const entries = nodesOf(node, 'settingEntry');
    this.strays(
      tokensOf(node, 'StrayInSettings'),
      'a setting name',
      "';' or a new line between settings",
    );
    this.checkSeparated(
      entries,
      [...tokensOf(node, 'Newline'), ...tokensOf(node, 'Semicolon'), ...tokensOf(node, 'Comma')],
      "';' or a new line between settings",
    );
    const out: SettingAst[] = [];
    for (const entry of entries) {
      const parsed = this.guard(() => this.setting(entry));
      if (parsed) out.push(parsed);
    }
    const close = tokenOf(node, 'RCurly');
    const end = isReal(close) ? close : (extent(node)?.last ?? kw);
    return {
      kind: kw.tokenType === Train ? 'train' : 'test',
      entries: out,
      span: this.lines.between(kw, end),
    };
  }

  private setting(node: CstNode): SettingAst | undefined {
    const key = tokenOf(node, 'Name');
    if (!isReal(key)) return undefined;
    const numbers = tokensOf(node, 'NumberLit');
    if (!numbers.every(isReal)) return undefined;
    const range = tokensOf(node, 'Range');
    if (range.length > 0 && (!range.every(isReal) || numbers.length !== 2)) return undefined;
    const values = numbers.sort((a, b) => a.startOffset - b.startOffset);
    const last = values[values.length - 1] ?? key;
    return {
      key: key.image,
      keySpan: this.lines.tokenSpan(key),
      values: values.map((t) => this.num(t)),
      range: range.length > 0,
      span: this.lines.between(key, last),
    };
  }
}
