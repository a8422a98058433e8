/**
 * The DSL front end: `parse` turns the text of a .vgg file into its AST and every lexing and
 * syntax error of the file, in source order. It never throws.
 */
import type { ILexingError, ILexingResult, IToken } from 'chevrotain';
import type { FileAst } from './ast.js';
import type { Diagnostic, SourceFile } from './diagnostics.js';
import { Comma, LParen, Newline, RParen, Semicolon, vggLexer } from './lexer.js';
import {
  CstConverter,
  firstAtOrAfter,
  LineMap,
  MAX_SYNTAX_ERRORS,
  RANK_LEXER,
  RANK_SEPARATOR,
  RANK_STRAY,
  RANK_SYNTAX,
  parseTokens,
  type RankedDiagnostic,
} from './parser.js';

export type * from './ast.js';
export {
  error,
  fail,
  formatDiagnostic,
  formatDiagnostics,
  hasErrors,
  joinSpans,
  VggcError,
  type Diagnostic,
  type Severity,
  type SourceFile,
  type Span,
} from './diagnostics.js';

export interface ParseResult {
  readonly ast: FileAst;
  /** Errors only; empty when the file is well formed. */
  readonly diagnostics: Diagnostic[];
}

/** Groups nest at most this deep; deeper input is refused rather than risking the stack. */
export const MAX_GROUP_DEPTH = 64;

/**
 * The longest source parse() reads: a model of the paper fits in 1 K characters, and a file
 * this long already holds more layers than the compiler takes (compiler/limits.ts); larger
 * files are refused at once rather than lexed and parsed for seconds.
 */
export const MAX_SOURCE_CHARS = 1 << 20;

/** Past this many unexpected characters a file is not parsed (only they are reported). */
export const MAX_LEXING_ERRORS = 200;

/**
 * Parses one .vgg file. Lexing and syntax errors are all collected in one run; the AST holds
 * only well-formed nodes (a layer that failed to parse is left out, its error reported).
 */
export function parse(source: SourceFile): ParseResult {
  const name = String(source?.name ?? '');
  const text = typeof source?.text === 'string' ? source.text : String(source?.text ?? '');
  const empty: FileAst = { file: name, models: [] };
  if (text.length > MAX_SOURCE_CHARS) {
    const mib = (text.length / 2 ** 20).toFixed(1);
    const message =
      `the file holds ${mib} M characters, more than a .vgg model file may ` +
      `(${MAX_SOURCE_CHARS / 2 ** 20} M; VGG-19 takes about 1 K): is it the model?`;
    return {
      ast: empty,
      diagnostics: [
        { severity: 'error', message, span: { file: name, line: 1, col: 1, offset: 0, length: 0 } },
      ],
    };
  }
  const lines = new LineMap(name, text);
  try {
    return parseText(lines, text);
  } catch (e) {
    // Not expected for any input; kept so that a bug here reads as a diagnostic, not a crash.
    const why = e instanceof Error ? e.message : String(e);
    return {
      ast: empty,
      diagnostics: [
        {
          severity: 'error',
          message: `internal error in the parser: ${why}`,
          span: lines.span(0, 0),
        },
      ],
    };
  }
}

/** The lexing errors of `text` (chevrotain's, and the runs of `Unexpected` characters). */
function lexErrors(lines: LineMap, text: string, lexed: ILexingResult): Diagnostic[] {
  const errs: Pick<ILexingError, 'offset' | 'length'>[] = [...lexed.errors];
  for (const t of lexed.groups['unexpected'] ?? [])
    errs.push({ offset: t.startOffset, length: t.image.length });
  return errs.sort((a, b) => a.offset - b.offset).map((e) => lexError(lines, text, e));
}

/**
 * A file whose first ~64 KiB already hold more than MAX_LEXING_ERRORS unexpected characters is
 * not a .vgg file (binary, or text in another language): only those errors and a note are
 * reported, and the rest is neither lexed nor parsed, so that such a file of any size answers at
 * once. A prefix cut at a line break lexes exactly as in the whole text (no token spans lines).
 */
function garbage(lines: LineMap, text: string): ParseResult | undefined {
  const cut = text.indexOf('\n', PROBE_CHARS);
  const head = cut < 0 ? text : text.slice(0, cut + 1);
  const errs = lexErrors(lines, text, vggLexer.tokenize(head));
  if (errs.length <= MAX_LEXING_ERRORS) return undefined;
  const last = errs[MAX_LEXING_ERRORS - 1]!.span!;
  const diagnostics = errs.slice(0, MAX_LEXING_ERRORS);
  diagnostics.push({
    severity: 'error',
    message:
      `more than ${MAX_LEXING_ERRORS} unexpected characters by line ${last.line}: ` +
      'this does not look like a .vgg model file; stopped reading it',
    span: lines.span(last.offset + last.length, 0),
  });
  return { ast: { file: lines.file, models: [] }, diagnostics };
}

/** How much of a file `garbage` looks at first. */
const PROBE_CHARS = 1 << 16;

function parseText(lines: LineMap, text: string): ParseResult {
  const stop = garbage(lines, text);
  if (stop) return stop;
  const ranked: RankedDiagnostic[] = [];
  const lexed = vggLexer.tokenize(text);
  const lexing = lexErrors(lines, text, lexed);
  for (const diagnostic of lexing) ranked.push({ diagnostic, rank: RANK_LEXER });

  const tooDeep = findTooDeep(lexed.tokens);
  let ast: FileAst = { file: lines.file, models: [] };
  if (lexing.length > MAX_LEXING_ERRORS) {
    // Not a .vgg file: its syntax errors would only bury the lexing errors, and recovering
    // through them costs time.
  } else if (tooDeep) {
    ranked.push({
      diagnostic: {
        severity: 'error',
        message: `groups nested too deeply (more than ${MAX_GROUP_DEPTH} levels)`,
        span: lines.tokenSpan(tooDeep),
      },
      rank: RANK_SYNTAX,
    });
  } else {
    const { cst, errors, stopped } = parseTokens(lexed.tokens);
    for (const err of errors) {
      ranked.push({
        diagnostic: { severity: 'error', message: err.message, span: lines.tokenSpan(err.token) },
        rank: RANK_SYNTAX,
      });
    }
    if (stopped) {
      const last = lines.tokenSpan(errors.at(-1)?.token);
      ranked.push({
        diagnostic: {
          severity: 'error',
          message: `${MAX_SYNTAX_ERRORS} syntax errors by line ${last.line}: stopped reading the file`,
          span: {
            ...last,
            offset: last.offset + last.length,
            col: last.col + last.length,
            length: 0,
          },
        },
        rank: RANK_SYNTAX,
      });
    }
    const converter = new CstConverter(lines, lexed.tokens);
    ast = converter.file(cst);
    for (const d of converter.diagnostics) ranked.push(d); // no spread: there may be very many
  }
  return { ast, diagnostics: orderAndDedupe(ranked, lexed.tokens) };
}

/** `unexpected character '$'`, or its code point when it does not print. */
function lexError(
  lines: LineMap,
  text: string,
  err: Pick<ILexingError, 'offset' | 'length'>,
): Diagnostic {
  const cp = text.codePointAt(err.offset) ?? 0;
  const ch = String.fromCodePoint(cp);
  // Letters, digits, punctuation and symbols print as themselves; anything invisible or odd
  // (controls, spaces other than ours, lone surrogates) by its code point.
  const shown = /^[\p{L}\p{N}\p{P}\p{S}]$/u.test(ch)
    ? `'${ch}'`
    : `U+${cp.toString(16).toUpperCase().padStart(4, '0')}`;
  return {
    severity: 'error',
    message: `unexpected character ${shown}`,
    span: lines.span(err.offset, err.length),
  };
}

function findTooDeep(tokens: IToken[]): IToken | undefined {
  let depth = 0;
  for (const t of tokens) {
    if (t.tokenType === LParen) {
      depth++;
      if (depth > MAX_GROUP_DEPTH) return t;
    } else if (t.tokenType === RParen && depth > 0) depth--;
  }
  return undefined;
}

/**
 * Source order; one diagnostic per position, the most specific kind winning. After a syntax
 * error, stray tokens and missing separators up to the next separator (new line, `,` or `;`) are
 * not reported: they are almost always the same mistake seen again (`LRN(n=5 alpha=1)` is one
 * error, not three). The parser's own errors, lexing errors and unknown layers always are.
 */
function orderAndDedupe(ranked: RankedDiagnostic[], tokens: IToken[]): Diagnostic[] {
  const best = new Map<number, RankedDiagnostic>();
  for (const r of ranked) {
    const at = r.diagnostic.span?.offset ?? -1;
    const seen = best.get(at);
    if (!seen || r.rank < seen.rank) best.set(at, r);
  }
  const separators = tokens.filter(
    (t) => t.tokenType === Newline || t.tokenType === Comma || t.tokenType === Semicolon,
  );
  /** Whether a separator lies after the error at `from` (or is that error) and before `to`. */
  const closesWindow = (from: number, to: number): boolean => {
    let i = firstAtOrAfter(separators, from);
    const sep = separators[i];
    if (sep && sep.startOffset === from && sep.tokenType !== Newline) i++;
    const next = separators[i];
    return next !== undefined && next.startOffset < to;
  };
  const out: Diagnostic[] = [];
  let lastSyntax: number | undefined;
  for (const at of [...best.keys()].sort((a, b) => a - b)) {
    const r = best.get(at)!;
    const opens = r.rank === RANK_SYNTAX || r.rank === RANK_STRAY || r.rank === RANK_SEPARATOR;
    const follows = r.rank === RANK_STRAY || r.rank === RANK_SEPARATOR;
    if (follows && lastSyntax !== undefined && !closesWindow(lastSyntax, at)) continue;
    if (opens) lastSyntax = at;
    out.push(r.diagnostic);
  }
  return out;
}
