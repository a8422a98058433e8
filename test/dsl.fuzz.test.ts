import fc from 'fast-check';
import { describe, it } from 'vitest';
import { parse, type Diagnostic } from '../dsl/index.js';

/**
 * `parse` must never throw, and every diagnostic it returns must point inside the text: line and
 * column from 1, offset within the text, the span ending within the text, and the line/column
 * agreeing with the offset. (Plain checks rather than `expect`, which is slow over thousands of
 * runs; fast-check reports the failing input and the message.)
 */
function checkParse(text: string): void {
  let result: ReturnType<typeof parse>;
  try {
    result = parse({ name: 'fuzz.vgg', text });
  } catch (e) {
    throw new Error(`parse threw: ${String(e)}`);
  }
  const { ast, diagnostics } = result;
  if (ast.file !== 'fuzz.vgg' || !Array.isArray(ast.models)) throw new Error('malformed AST');
  const lineStarts = [0];
  for (const m of text.matchAll(/\r\n|\r|\n/g)) lineStarts.push(m.index + m[0].length);
  for (const d of diagnostics) {
    const problem = diagnosticProblem(d, text, lineStarts);
    if (problem) throw new Error(`${problem}: ${JSON.stringify(d)}`);
  }
}

function diagnosticProblem(d: Diagnostic, text: string, lineStarts: number[]): string | undefined {
  if (d.severity !== 'error') return 'not an error';
  if (/-->|Expecting|token of type|internal error/.test(d.message)) return 'raw message';
  const s = d.span;
  if (!s) return 'no span';
  if (s.file !== 'fuzz.vgg') return 'wrong file';
  if (!(s.line >= 1 && s.line <= lineStarts.length)) return 'line outside the text';
  if (!(s.col >= 1)) return 'column before 1';
  if (!(s.offset >= 0 && s.offset <= text.length)) return 'offset outside the text';
  if (!(s.length >= 0 && s.offset + s.length <= text.length)) return 'span runs past the text';
  if (lineStarts[s.line - 1]! + s.col - 1 !== s.offset) return 'line:col disagrees with offset';
  return undefined;
}

/** Tokens of the language and near misses, to be joined with random whitespace. */
const vocabulary = [
  'model',
  'MODEL',
  'vgg16',
  'A-LRN',
  'E',
  'input',
  'Input',
  '3x224x224',
  '1x28x28',
  '3x224',
  'conv3-64',
  'conv1-256',
  'Conv3-512',
  'conv5x5',
  'conv3',
  'FC-10',
  'fc-4096',
  'FC',
  'x2',
  'X3',
  'x',
  'x 2',
  '2',
  '64',
  '0.5',
  '5e-4',
  '1e-2',
  '1.5E+3',
  '..',
  ',',
  ';',
  '=',
  '{',
  '}',
  '(',
  ')',
  'maxpool',
  'MaxPool',
  'LRN',
  'lrn',
  'LRN(n=5, alpha=1e-4)',
  'n',
  'alpha',
  'beta',
  'k',
  'dropout',
  'dropout 0.5',
  'soft-max',
  'softmax',
  'relu',
  'ReLU',
  'pool',
  'train',
  'test',
  'batch',
  'lr',
  'momentum',
  'weight-decay',
  'scale',
  'scales',
  'flip',
  'epochs',
  '# comment\n',
  '$',
  '-',
  '.',
  '\u00e9',
  '\ufeff',
];
const whitespace = ['', ' ', '  ', '\t', '\n', '\r\n', '\r', ' \n\n '];

const tokenSoup = fc
  .array(fc.tuple(fc.constantFrom(...vocabulary), fc.constantFrom(...whitespace)), {
    maxLength: 80,
  })
  .map((parts) => parts.map(([token, ws]) => token + ws).join(''));

/** Token soup inside a model, so that the layer and settings rules get exercised. */
const modelSoup = fc
  .tuple(tokenSoup, fc.boolean())
  .map(([body, closed]) => `model m {\n${body}${closed ? '\n}' : ''}`);

describe('parse never throws and keeps its spans inside the text', () => {
  it('on random strings', () => {
    fc.assert(fc.property(fc.string({ maxLength: 300 }), checkParse), { numRuns: 300 });
  });

  it('on random Unicode strings and random UTF-16 code units (lone surrogates included)', () => {
    fc.assert(fc.property(fc.string({ unit: 'binary', maxLength: 200 }), checkParse), {
      numRuns: 200,
    });
    const codeUnits = fc
      .array(fc.integer({ min: 0, max: 0xffff }), { maxLength: 200 })
      .map((units) => String.fromCharCode(...units));
    fc.assert(fc.property(codeUnits, checkParse), { numRuns: 200 });
  });

  it('on random bytes decoded as latin1 and as UTF-8', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 300 }), (bytes) => {
        const buf = Buffer.from(bytes);
        checkParse(buf.toString('latin1'));
        checkParse(buf.toString('utf8'));
      }),
      { numRuns: 300 },
    );
  });

  it('on random sequences of valid-ish tokens and whitespace', () => {
    fc.assert(fc.property(tokenSoup, checkParse), { numRuns: 400 });
  });

  it('on random token sequences inside a model body', () => {
    fc.assert(fc.property(modelSoup, checkParse), { numRuns: 400 });
  });

  it('on valid programs with random damage', () => {
    const program = [
      'model vgg16 {',
      '  train { batch 256; lr 0.01; scale 256..512 }',
      '  input 3x224x224',
      '  conv3-64 x2, maxpool',
      '  (conv3-128 x2, LRN(n=5, k=2), maxpool) x2',
      '  FC-4096, dropout 0.5',
      '  soft-max',
      '}',
    ].join('\n');
    fc.assert(
      fc.property(
        fc.array(fc.tuple(fc.nat(program.length), fc.nat(4), fc.constantFrom('', ...vocabulary)), {
          minLength: 1,
          maxLength: 4,
        }),
        (edits) => {
          let text = program;
          for (const [at, cut, insert] of edits) {
            const i = Math.min(at, text.length);
            text = text.slice(0, i) + insert + text.slice(i + cut);
          }
          checkParse(text);
        },
      ),
      { numRuns: 300 },
    );
  });
});
