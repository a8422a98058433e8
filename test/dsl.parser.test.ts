import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import {
  formatDiagnostic,
  parse,
  type ConvAst,
  type Diagnostic,
  type DropoutAst,
  type FcAst,
  type FileAst,
  type LayerAst,
  type LrnAst,
  type MaxPoolAst,
  type NumberAst,
  type RepeatAst,
  type SettingAst,
  type SoftmaxAst,
  type Span,
} from '../dsl/index.js';

const FILE = 'net.vgg';

function parseText(text: string): { ast: FileAst; diagnostics: Diagnostic[] } {
  return parse({ name: FILE, text });
}

/** `line:col message` for each diagnostic, the way a person reads compiler output. */
function where(diags: readonly Diagnostic[]): string[] {
  return diags.map((d) => `${d.span?.line}:${d.span?.col} ${d.message}`);
}

/**
 * Builds expected AST nodes for `text`. Positions are found by reading the program: `find(line,
 * needle, nth)` is the column where `needle` occurs (the nth time) on that line.
 */
function expectAt(text: string) {
  const lines: { start: number; text: string }[] = [];
  const re = /\r\n|\r|\n/g;
  let start = 0;
  for (let m = re.exec(text); m; m = re.exec(text)) {
    lines.push({ start, text: text.slice(start, m.index) });
    start = m.index + m[0].length;
  }
  lines.push({ start, text: text.slice(start) });

  const span = (line: number, col: number, length: number): Span => ({
    file: FILE,
    line,
    col,
    offset: lines[line - 1]!.start + col - 1,
    length,
  });
  const find = (line: number, needle: string, nth = 1): number => {
    const t = lines[line - 1]!.text;
    let at = -1;
    for (let i = 0; i < nth; i++) {
      at = t.indexOf(needle, at + 1);
      if (at < 0) throw new Error(`'${needle}' (${nth}) not on line ${line}: ${t}`);
    }
    return at + 1;
  };
  const spanOf = (line: number, needle: string, nth = 1): Span =>
    span(line, find(line, needle, nth), needle.length);
  const num = (value: number, line: number, col: number, length: number): NumberAst => ({
    value,
    span: span(line, col, length),
  });

  return {
    span,
    spanOf,
    find,
    /** `convK-C` written at (line, nth occurrence of its text). */
    conv(line: number, written: string, nth = 1): ConvAst {
      const col = find(line, written, nth);
      const [k, c] = written.slice(4).split('-') as [string, string];
      return {
        kind: 'conv',
        kernel: num(Number(k), line, col + 4, k.length),
        channels: num(Number(c), line, col + 5 + k.length, c.length),
        span: span(line, col, written.length),
      };
    },
    maxpool(line: number, written = 'maxpool', nth = 1): MaxPoolAst {
      return { kind: 'maxpool', span: spanOf(line, written, nth) };
    },
    fc(line: number, written: string, nth = 1): FcAst {
      const col = find(line, written, nth);
      const n = written.slice(3);
      return {
        kind: 'fc',
        units: num(Number(n), line, col + 3, n.length),
        span: span(line, col, written.length),
      };
    },
    /** `written` is the whole layer text, e.g. `dropout 0.5`. */
    dropout(line: number, written: string, nth = 1): DropoutAst {
      const col = find(line, written, nth);
      const p = written.split(/\s+/)[1]!;
      return {
        kind: 'dropout',
        p: num(Number(p), line, col + written.length - p.length, p.length),
        span: span(line, col, written.length),
      };
    },
    softmax(line: number, written = 'soft-max', nth = 1): SoftmaxAst {
      return { kind: 'softmax', span: spanOf(line, written, nth) };
    },
    lrn(line: number, written: string, params: [string, number, string][], nth = 1): LrnAst {
      const col = find(line, written, nth);
      const text0 = lines[line - 1]!.text;
      return {
        kind: 'lrn',
        params: params.map(([name, value, valueText]) => {
          const nameCol = text0.indexOf(`${name}=`, col - 1) + 1;
          return {
            name,
            nameSpan: span(line, nameCol, name.length),
            value: num(value, line, nameCol + name.length + 1, valueText.length),
          };
        }),
        span: span(line, col, written.length),
      };
    },
    /**
     * A repeat whose text starts at `from` ([line, col]) and whose count is written `countText`
     * (`x2` or `x 2`) at [line, col].
     */
    repeat(
      body: LayerAst[],
      from: [number, number],
      countAt: [number, number],
      countText: string,
    ): RepeatAst {
      const digits = countText.replace(/^[xX]\s*/, '');
      const digitsCol = countAt[1] + countText.length - digits.length;
      const endOffset = span(countAt[0], digitsCol + digits.length, 0).offset;
      const startSpan = span(from[0], from[1], 0);
      return {
        kind: 'repeat',
        body,
        count: num(Number(digits), countAt[0], digitsCol, digits.length),
        span: { ...startSpan, length: endOffset - startSpan.offset },
      };
    },
    /** `key v1 v2 ...` with the values written as `valueTexts`, all on one line. */
    setting(line: number, key: string, valueTexts: string[], range = false, nth = 1): SettingAst {
      const col = find(line, key, nth);
      const t = lines[line - 1]!.text;
      let cursor = col - 1 + key.length;
      const values = valueTexts.map((v) => {
        const at = t.indexOf(v, cursor);
        cursor = at + v.length;
        return num(Number(v), line, at + 1, v.length);
      });
      return {
        key,
        keySpan: span(line, col, key.length),
        values,
        range,
        span: span(line, col, cursor - (col - 1)),
      };
    },
  };
}

const VGG16 = `# a comment
model vgg16 {
  input 3x224x224
  conv3-64 x2, maxpool
  conv3-128 x2, maxpool
  conv3-256 x3, maxpool
  conv3-512 x3, maxpool
  conv3-512 x3, maxpool
  FC-4096, dropout 0.5
  FC-4096, dropout 0.5
  FC-1000
  soft-max
}
`;

describe('parse: valid programs', () => {
  it('parses the full VGG-16 with exact layers and spans', () => {
    const { ast, diagnostics } = parseText(VGG16);
    expect(diagnostics).toEqual([]);
    const e = expectAt(VGG16);
    const convRepeat = (line: number, written: string, count: string) =>
      e.repeat([e.conv(line, written)], [line, 3], [line, e.find(line, count)], count);
    const expected: FileAst = {
      file: FILE,
      models: [
        {
          name: 'vgg16',
          nameSpan: e.span(2, 7, 5),
          span: e.span(2, 1, VGG16.lastIndexOf('}') + 1 - VGG16.indexOf('model')),
          input: { c: 3, h: 224, w: 224, span: e.span(3, 3, 'input 3x224x224'.length) },
          layers: [
            convRepeat(4, 'conv3-64', 'x2'),
            e.maxpool(4),
            convRepeat(5, 'conv3-128', 'x2'),
            e.maxpool(5),
            convRepeat(6, 'conv3-256', 'x3'),
            e.maxpool(6),
            convRepeat(7, 'conv3-512', 'x3'),
            e.maxpool(7),
            convRepeat(8, 'conv3-512', 'x3'),
            e.maxpool(8),
            e.fc(9, 'FC-4096'),
            e.dropout(9, 'dropout 0.5'),
            e.fc(10, 'FC-4096'),
            e.dropout(10, 'dropout 0.5'),
            e.fc(11, 'FC-1000'),
            e.softmax(12),
          ],
          settings: [],
        },
      ],
    };
    expect(ast).toEqual(expected);
  });

  it('puts literal positions where a reader counts them', () => {
    const { ast } = parseText(VGG16);
    const model = ast.models[0]!;
    // "# a comment\n" is 12 characters, so `model` starts at offset 12.
    expect(model.span).toEqual({ file: FILE, line: 2, col: 1, offset: 12, length: 219 });
    expect(model.input?.span).toEqual({ file: FILE, line: 3, col: 3, offset: 28, length: 15 });
    const first = model.layers[0] as RepeatAst;
    // `  conv3-64 x2, maxpool` on line 4, which starts at offset 44.
    expect(first.span).toEqual({ file: FILE, line: 4, col: 3, offset: 46, length: 11 });
    expect(first.count).toEqual({
      value: 2,
      span: { file: FILE, line: 4, col: 13, offset: 56, length: 1 },
    });
    const conv = first.body[0] as ConvAst;
    expect(conv.kernel).toEqual({
      value: 3,
      span: { file: FILE, line: 4, col: 7, offset: 50, length: 1 },
    });
    expect(conv.channels).toEqual({
      value: 64,
      span: { file: FILE, line: 4, col: 9, offset: 52, length: 2 },
    });
    const last = model.layers[model.layers.length - 1]!;
    expect(last).toEqual({
      kind: 'softmax',
      span: { file: FILE, line: 12, col: 3, offset: 221, length: 8 },
    });
  });

  it('parses repeated groups, nested groups and groups without a count', () => {
    const text = [
      'model g {',
      '  (conv3-512 x3, maxpool) x2',
      '  ((conv3-64, LRN) x2, maxpool) X3',
      '  (conv1-256, maxpool)',
      '  (',
      '    FC-10',
      '    dropout 0.25,',
      '  ) x 4',
      '}',
    ].join('\n');
    const { ast, diagnostics } = parseText(text);
    expect(diagnostics).toEqual([]);
    const e = expectAt(text);
    expect(ast.models[0]!.layers).toEqual([
      e.repeat(
        [e.repeat([e.conv(2, 'conv3-512')], [2, 4], [2, 14], 'x3'), e.maxpool(2)],
        [2, 3],
        [2, e.find(2, 'x2')],
        'x2',
      ),
      e.repeat(
        [
          e.repeat(
            [e.conv(3, 'conv3-64'), { kind: 'lrn', params: [], span: e.spanOf(3, 'LRN') }],
            [3, 4],
            [3, 20],
            'x2',
          ),
          e.maxpool(3),
        ],
        [3, 3],
        [3, e.find(3, 'X3')],
        'X3',
      ),
      // no count: the group's layers are spliced into the model
      e.conv(4, 'conv1-256'),
      e.maxpool(4),
      e.repeat([e.fc(6, 'FC-10'), e.dropout(7, 'dropout 0.25')], [5, 3], [8, 5], 'x 4'),
    ]);
  });

  it('parses repeat counts written x2, X2 and x 2 on any layer', () => {
    const text = 'model r {\n  maxpool X2, LRN x 3\n  soft-max x10\n}';
    const { ast, diagnostics } = parseText(text);
    expect(diagnostics).toEqual([]);
    const e = expectAt(text);
    expect(ast.models[0]!.layers).toEqual([
      e.repeat([e.maxpool(2)], [2, 3], [2, 11], 'X2'),
      e.repeat([{ kind: 'lrn', params: [], span: e.spanOf(2, 'LRN') }], [2, 15], [2, 19], 'x 3'),
      e.repeat([e.softmax(3)], [3, 3], [3, 12], 'x10'),
    ]);
  });

  it('parses LRN with any subset of named arguments in any order', () => {
    const text = 'model l {\n  LRN(n=5, alpha=1e-4, beta=0.75, k=2)\n  LRN(k=1)\n  LRN()\n  LRN\n}';
    const { ast, diagnostics } = parseText(text);
    expect(diagnostics).toEqual([]);
    const e = expectAt(text);
    expect(ast.models[0]!.layers).toEqual([
      e.lrn(2, 'LRN(n=5, alpha=1e-4, beta=0.75, k=2)', [
        ['n', 5, '5'],
        ['alpha', 1e-4, '1e-4'],
        ['beta', 0.75, '0.75'],
        ['k', 2, '2'],
      ]),
      e.lrn(3, 'LRN(k=1)', [['k', 1, '1']]),
      e.lrn(4, 'LRN()', []),
      e.lrn(5, 'LRN', []),
    ]);
  });

  it('parses train and test settings blocks with every entry form', () => {
    const text = [
      'model s {',
      '  train {',
      '    batch 256',
      '    lr 0.01; momentum 0.9',
      '    weight-decay 5e-4',
      '    dropout 0.5',
      '    scale 256..512',
      '    epochs 74',
      '  }',
      '  test {',
      '    scales 256, 384, 512',
      '    flip',
      '    scale 384',
      '  }',
      '  conv3-64',
      '  train { batch 32, lr 1E-2 ; crop 224 224 }',
      '}',
    ].join('\n');
    const { ast, diagnostics } = parseText(text);
    expect(diagnostics).toEqual([]);
    const e = expectAt(text);
    const model = ast.models[0]!;
    expect(model.layers).toEqual([e.conv(15, 'conv3-64')]);
    expect(model.settings).toEqual([
      {
        kind: 'train',
        span: { ...e.span(2, 3, 0), length: e.span(9, 4, 0).offset - e.span(2, 3, 0).offset },
        entries: [
          e.setting(3, 'batch', ['256']),
          e.setting(4, 'lr', ['0.01']),
          e.setting(4, 'momentum', ['0.9']),
          e.setting(5, 'weight-decay', ['5e-4']),
          e.setting(6, 'dropout', ['0.5']),
          e.setting(7, 'scale', ['256', '512'], true),
          e.setting(8, 'epochs', ['74']),
        ],
      },
      {
        kind: 'test',
        span: { ...e.span(10, 3, 0), length: e.span(14, 4, 0).offset - e.span(10, 3, 0).offset },
        entries: [
          e.setting(11, 'scales', ['256', '384', '512']),
          e.setting(12, 'flip', []),
          e.setting(13, 'scale', ['384']),
        ],
      },
      {
        kind: 'train',
        span: e.span(16, 3, 'train { batch 32, lr 1E-2 ; crop 224 224 }'.length),
        entries: [
          e.setting(16, 'batch', ['32']),
          e.setting(16, 'lr', ['1E-2']),
          e.setting(16, 'crop', ['224', '224']),
        ],
      },
    ]);
    expect(model.settings[0]!.entries[5]!.values.map((v) => v.value)).toEqual([256, 512]);
    expect(model.settings[0]!.entries[3]!.values[0]!.value).toBe(0.0005);
  });

  it('parses several models, with names that contain dashes, digits and keywords', () => {
    const text = [
      'model A-LRN {',
      '  conv3-64, LRN, maxpool',
      '}',
      '',
      'model vgg16 { FC-10 }',
      'model test {}',
    ].join('\n');
    const { ast, diagnostics } = parseText(text);
    expect(diagnostics).toEqual([]);
    const e = expectAt(text);
    expect(ast).toEqual({
      file: FILE,
      models: [
        {
          name: 'A-LRN',
          nameSpan: e.span(1, 7, 5),
          span: { ...e.span(1, 1, 0), length: e.span(3, 2, 0).offset },
          layers: [
            e.conv(2, 'conv3-64'),
            { kind: 'lrn', params: [], span: e.spanOf(2, 'LRN') },
            e.maxpool(2),
          ],
          settings: [],
        },
        {
          name: 'vgg16',
          nameSpan: e.span(5, 7, 5),
          span: e.span(5, 1, 'model vgg16 { FC-10 }'.length),
          layers: [e.fc(5, 'FC-10')],
          settings: [],
        },
        {
          name: 'test',
          nameSpan: e.span(6, 7, 4),
          span: e.span(6, 1, 'model test {}'.length),
          layers: [],
          settings: [],
        },
      ],
    });
  });

  it('reads keywords and layer names in any case', () => {
    const text = [
      'MODEL Mixed {',
      '  INPUT 1X28X28',
      '  Conv3-64 X2, MaxPool, lrn(N=3), Fc-10, DROPOUT 0.5, SoftMax, Soft-Max, SOFTMAX',
      '  TRAIN { Batch 8 }',
      '}',
    ].join('\n');
    const { ast, diagnostics } = parseText(text);
    expect(diagnostics).toEqual([]);
    const e = expectAt(text);
    const model = ast.models[0]!;
    expect(model.name).toBe('Mixed');
    expect(model.input).toEqual({ c: 1, h: 28, w: 28, span: e.span(2, 3, 'INPUT 1X28X28'.length) });
    expect(model.layers).toEqual([
      e.repeat([e.conv(3, 'Conv3-64')], [3, 3], [3, 12], 'X2'),
      e.maxpool(3, 'MaxPool'),
      e.lrn(3, 'lrn(N=3)', [['N', 3, '3']]),
      e.fc(3, 'Fc-10'),
      e.dropout(3, 'DROPOUT 0.5'),
      e.softmax(3, 'SoftMax'),
      e.softmax(3, 'Soft-Max'),
      e.softmax(3, 'SOFTMAX'),
    ]);
    expect(model.settings).toEqual([
      { kind: 'train', entries: [e.setting(4, 'Batch', ['8'])], span: e.span(4, 3, 17) },
    ]);
  });

  it('skips comments everywhere and accepts blank lines, trailing commas and tabs', () => {
    const text = [
      '# header',
      'model c { # after the brace',
      '',
      '\tconv3-64,   # trailing comma, then a comment',
      '',
      '  # a comment line between layers',
      '  maxpool,,\t',
      '  FC-10, soft-max,',
      '} # after the model',
      '# at the end, no newline',
    ].join('\n');
    const { ast, diagnostics } = parseText(text);
    expect(diagnostics).toEqual([]);
    const e = expectAt(text);
    expect(ast.models[0]!.layers).toEqual([
      e.conv(4, 'conv3-64'),
      e.maxpool(7),
      e.fc(8, 'FC-10'),
      e.softmax(8),
    ]);
    expect(ast.models[0]!.span).toEqual({
      ...e.span(2, 1, 0),
      length: e.span(9, 2, 0).offset - e.span(2, 1, 0).offset,
    });
  });

  it('gives CRLF and lone-CR files the same lines and columns as LF files', () => {
    const lf = parseText(VGG16).ast;
    const crlfText = VGG16.replace(/\n/g, '\r\n');
    const crlf = parseText(crlfText);
    expect(crlf.diagnostics).toEqual([]);
    const strip = (ast: FileAst) =>
      JSON.parse(JSON.stringify(ast, (k, v) => (k === 'offset' || k === 'length' ? undefined : v)));
    expect(strip(crlf.ast)).toEqual(strip(lf));
    // Every line before line 4 gained one character.
    const first = crlf.ast.models[0]!.layers[0] as RepeatAst;
    expect(first.span).toEqual({ file: FILE, line: 4, col: 3, offset: 49, length: 11 });
    expect(crlfText.slice(first.span.offset, first.span.offset + first.span.length)).toBe(
      'conv3-64 x2',
    );
    const model = crlf.ast.models[0]!;
    expect(crlfText.slice(model.span.offset, model.span.offset + model.span.length)).toMatch(
      /^model vgg16 \{[\s\S]*\}$/,
    );

    const cr = parseText('model m {\r  maxpool\r  FC-10\r}');
    expect(cr.diagnostics).toEqual([]);
    expect(cr.ast.models[0]!.layers.map((l) => [l.kind, l.span.line, l.span.col])).toEqual([
      ['maxpool', 2, 3],
      ['fc', 3, 3],
    ]);
  });

  it("accepts a model's or a settings block's brace on the next line", () => {
    const text = 'model m\n{\n  train\n  {\n    lr 0.01\n  }\n  maxpool\n}';
    const { ast, diagnostics } = parseText(text);
    expect(diagnostics).toEqual([]);
    const e = expectAt(text);
    expect(ast.models[0]).toEqual({
      name: 'm',
      nameSpan: e.span(1, 7, 1),
      span: e.span(1, 1, text.length),
      layers: [e.maxpool(7)],
      settings: [
        {
          kind: 'train',
          entries: [e.setting(5, 'lr', ['0.01'])],
          span: { ...e.span(3, 3, 0), length: e.span(6, 4, 0).offset - e.span(3, 3, 0).offset },
        },
      ],
    });
  });

  it('parses numbers with decimals and exponents', () => {
    const text =
      'model n {\n  dropout 0.5, dropout 5e-4, dropout 1E-2, dropout 1.5e+3, dropout 7\n}';
    const { ast, diagnostics } = parseText(text);
    expect(diagnostics).toEqual([]);
    expect(ast.models[0]!.layers.map((l) => (l as DropoutAst).p.value)).toEqual([
      0.5, 0.0005, 0.01, 1500, 7,
    ]);
  });

  it('returns no models and no diagnostics for an empty file or comments only', () => {
    expect(parseText('')).toEqual({ ast: { file: FILE, models: [] }, diagnostics: [] });
    expect(parseText('# nothing\n\n   # here\r\n')).toEqual({
      ast: { file: FILE, models: [] },
      diagnostics: [],
    });
  });

  it('leaves input out of the AST when a model does not declare one', () => {
    const { ast, diagnostics } = parseText('model m { maxpool }');
    expect(diagnostics).toEqual([]);
    expect(ast.models[0]).not.toHaveProperty('input');
  });

  it('parses every example in grammar.md without a diagnostic', () => {
    const md = readFileSync(new URL('../grammar.md', import.meta.url), 'utf8');
    // The fenced blocks without a language are .vgg examples (the grammar itself is `ebnf`).
    const blocks: string[] = [];
    let current: string[] | undefined;
    let isExample = false;
    for (const line of md.split('\n')) {
      if (line.startsWith('```')) {
        if (current) {
          if (isExample) blocks.push(current.join('\n'));
          current = undefined;
        } else {
          current = [];
          isExample = line.trim() === '```';
        }
      } else current?.push(line);
    }
    expect(blocks.length).toBeGreaterThanOrEqual(2);
    for (const block of blocks) {
      const { ast, diagnostics } = parseText(block);
      expect(where(diagnostics)).toEqual([]);
      expect(ast.models.length).toBeGreaterThan(0);
    }
  });
});

describe('parse: diagnostics', () => {
  it('reports an unknown layer at the identifier, with a hint for ReLU', () => {
    const text = [
      'model u {',
      '  conv3-64, relu',
      '  conv5x5',
      '  relu6, pool 2, ReLU',
      '  maxpool',
      '}',
    ].join('\n');
    const { ast, diagnostics } = parseText(text);
    expect(where(diagnostics)).toEqual([
      "2:13 unknown layer 'relu' (ReLU follows every conv and FC implicitly)",
      "3:3 unknown layer 'conv5x5' (a convolution is written convK-C, e.g. conv3-64)",
      "4:3 unknown layer 'relu6' (ReLU follows every conv and FC implicitly)",
      "4:10 unknown layer 'pool' (did you mean 'maxpool'?)",
      "4:18 unknown layer 'ReLU' (ReLU follows every conv and FC implicitly)",
    ]);
    // "model u {\n" and "  conv3-64, relu\n" come before: 10 + 17 characters.
    expect(diagnostics[1]!.span).toEqual({ file: FILE, line: 3, col: 3, offset: 29, length: 7 });
    expect(diagnostics.every((d) => d.severity === 'error')).toBe(true);
    // only the well-formed layers are kept
    expect(ast.models[0]!.layers.map((l) => l.kind)).toEqual(['conv', 'maxpool']);
  });

  it('accepts any integers in convK-C and FC-N (the checker validates them)', () => {
    const text = 'model k { conv5-64, conv7-3, FC-0 }';
    const { ast, diagnostics } = parseText(text);
    expect(diagnostics).toEqual([]);
    const e = expectAt(text);
    expect(ast.models[0]!.layers).toEqual([
      e.conv(1, 'conv5-64'),
      e.conv(1, 'conv7-3'),
      e.fc(1, 'FC-0'),
    ]);
  });

  it('reports two layers with no separator between them', () => {
    const text = 'model s {\n  conv3-64 maxpool\n  conv3-64 64, FC-10\n  (maxpool conv3-64) x2\n}';
    const { ast, diagnostics } = parseText(text);
    expect(where(diagnostics)).toEqual([
      "2:12 expected ',' or a new line between layers, found 'maxpool'",
      "3:12 expected ',' or a new line between layers, found '64'",
      "4:12 expected ',' or a new line between layers, found 'conv3-64'",
    ]);
    expect(ast.models[0]!.layers.length).toBeGreaterThan(0);
  });

  it('reports a missing number, count or shape where it was expected', () => {
    const text = [
      'model m {',
      '  input 3x224',
      '  dropout',
      '  dropout, FC-10',
      '  conv3-64 x',
      '  conv3-64 x2 x3',
      '}',
    ].join('\n');
    const { ast, diagnostics } = parseText(text);
    expect(where(diagnostics)).toEqual([
      "2:9 expected the input shape as CxHxW (e.g. 3x224x224), found '3'",
      "3:10 expected a number after 'dropout', found a new line",
      "4:10 expected a number after 'dropout', found ','",
      "5:13 expected a repeat count after 'x', found a new line",
      "6:15 expected ',' or a new line between layers, found 'x3'",
    ]);
    const e = expectAt(text);
    // The broken input, dropouts and repeat are dropped; the rest stays.
    expect(ast.models[0]!.input).toBeUndefined();
    expect(ast.models[0]!.layers).toEqual([
      e.fc(4, 'FC-10'),
      e.repeat([e.conv(6, 'conv3-64')], [6, 3], [6, 12], 'x2'),
    ]);
  });

  it('reports unexpected characters and keeps parsing', () => {
    const text = 'model c {\n  conv3-64 $ x2\n  maxpool @@\n  FC-10 \u0001\n}';
    const { ast, diagnostics } = parseText(text);
    expect(where(diagnostics)).toEqual([
      "2:12 unexpected character '$'",
      "3:11 unexpected character '@'",
      '4:9 unexpected character U+0001',
    ]);
    expect(diagnostics[1]!.span!.length).toBe(2);
    expect(ast.models[0]!.layers.map((l) => l.kind)).toEqual(['repeat', 'maxpool', 'fc']);
  });

  it('reports a model missing its name, brace or closing brace', () => {
    expect(where(parseText('model {\n  maxpool\n}').diagnostics)).toEqual([
      "1:7 expected a model name after 'model', found '{'",
    ]);
    expect(where(parseText('model m\n  maxpool\n}').diagnostics)).toEqual([
      "1:8 expected '{' after the model name, found a new line",
    ]);
    const open = parseText('model m {\n  maxpool\n');
    expect(where(open.diagnostics)).toEqual([
      "3:1 expected '}' at the end of the model, found end of file",
    ]);
    expect(open.ast.models[0]!.layers.map((l) => l.kind)).toEqual(['maxpool']);
    const next = parseText('model a {\n  maxpool\nmodel b {\n  FC-10\n}');
    expect(where(next.diagnostics)).toEqual([
      "3:1 expected '}' at the end of the model, found 'model'",
    ]);
    expect(next.ast.models.map((m) => m.name)).toEqual(['a', 'b']);
  });

  it('reports text outside a model once per stretch', () => {
    const text = 'modle a {\n  conv3-64\n}\nmodel b { maxpool }\nconv3-64\n';
    const { ast, diagnostics } = parseText(text);
    expect(where(diagnostics)).toEqual([
      "1:1 expected 'model', found 'modle'",
      "5:1 expected 'model', found 'conv3-64'",
    ]);
    expect(ast.models.map((m) => m.name)).toEqual(['b']);
  });

  it('reports broken groups', () => {
    const text = [
      'model g {',
      '  (conv3-64, maxpool',
      '  ()',
      '  ( ) x2',
      '  FC-10',
      '}',
      'model h {',
      '  (x2)',
      '}',
    ].join('\n');
    const { ast, diagnostics } = parseText(text);
    expect(where(diagnostics)).toEqual([
      '3:3 empty group: a group needs at least one layer',
      '4:3 empty group: a group needs at least one layer',
      "6:1 expected ')' to close the group, found '}'",
      "8:4 expected a layer or ')', found 'x2'",
    ]);
    // the unclosed group is dropped as a whole
    expect(ast.models.map((m) => [m.name, m.layers.length])).toEqual([
      ['g', 0],
      ['h', 0],
    ]);
  });

  it('reports broken LRN arguments', () => {
    const text = 'model l {\n  LRN(n=5 alpha=1)\n  LRN(n=)\n  LRN(,)\n  LRN(n 5)\n  maxpool\n}';
    const { ast, diagnostics } = parseText(text);
    expect(where(diagnostics)).toEqual([
      "2:11 expected ',' or ')' after an LRN argument, found 'alpha'",
      "3:9 expected a number after '=', found ')'",
      "4:7 expected an LRN argument such as 'n=5', or ')', found ','",
      "5:9 expected '=' after 'n', found '5'",
    ]);
    expect(ast.models[0]!.layers.map((l) => l.kind)).toEqual(['maxpool']);
  });

  it('reports broken settings', () => {
    const text = [
      'model s {',
      '  train {',
      '    256',
      '    lr 0.01 momentum 0.9',
      '    scale 256..',
      '    batch 32',
      '  }',
      '  test flip',
      '}',
    ].join('\n');
    const { ast, diagnostics } = parseText(text);
    expect(where(diagnostics)).toEqual([
      "3:5 expected a setting name, found '256'",
      "4:13 expected ';' or a new line between settings, found 'momentum'",
      "5:16 expected a number after '..', found a new line",
      "8:8 expected '{' after 'test', found 'flip'",
    ]);
    // the broken `test` block is dropped; the well-formed entries of `train` are kept
    expect(ast.models[0]!.settings.length).toBe(1);
    const train = ast.models[0]!.settings[0]!;
    expect(train.entries.map((s) => s.key)).toEqual(['lr', 'momentum', 'batch']);
  });

  it('reports a settings block without braces once, and parses the layers after it', () => {
    const text = 'model s {\n  train\n  maxpool\n}\nmodel t\n  FC-10\n}';
    const { ast, diagnostics } = parseText(text);
    expect(where(diagnostics)).toEqual([
      "2:8 expected '{' after 'train', found a new line",
      "5:8 expected '{' after the model name, found a new line",
    ]);
    expect(ast.models.map((m) => [m.name, m.settings.length, m.layers.map((l) => l.kind)])).toEqual(
      [
        ['s', 0, ['maxpool']],
        ['t', 0, ['fc']],
      ],
    );
  });

  it('reports a second input declaration', () => {
    const text = 'model i {\n  input 3x32x32\n  input 1x28x28\n}';
    const { ast, diagnostics } = parseText(text);
    expect(where(diagnostics)).toEqual(['3:3 input already declared at line 2']);
    expect(ast.models[0]!.input).toMatchObject({ c: 3, h: 32, w: 32 });
  });

  it('reports every syntax error of a file in one run', () => {
    const text = [
      'model broken {', // 1
      '  input 3x224x224', // 2
      '  conv3-64 x2, relu', // 3
      '  conv3-128 $ x2', // 4
      '  dropout', // 5
      '  conv3-256 conv3-256', // 6
      '  LRN(n=5', // 7
      '  train { lr }', // 8
      '  FC-10 10', // 9
      '  soft-max', // 10
      '}', // 11
      'junk', // 12
      'model ok { maxpool }', // 13
    ].join('\n');
    const { ast, diagnostics } = parseText(text);
    expect(where(diagnostics)).toEqual([
      "3:16 unknown layer 'relu' (ReLU follows every conv and FC implicitly)",
      "4:13 unexpected character '$'",
      "5:10 expected a number after 'dropout', found a new line",
      "6:13 expected ',' or a new line between layers, found 'conv3-256'",
      "7:10 expected ',' or ')' after an LRN argument, found a new line",
      "9:9 expected ',' or a new line between layers, found '10'",
      "12:1 expected 'model', found 'junk'",
    ]);
    expect(ast.models.map((m) => m.name)).toEqual(['broken', 'ok']);
    expect(ast.models[0]!.layers.map((l) => l.kind)).toEqual([
      'repeat',
      'repeat',
      'conv',
      'conv',
      'fc',
      'softmax',
    ]);
    expect(ast.models[0]!.settings[0]!.entries).toEqual([expectAt(text).setting(8, 'lr', [])]);
  });

  it('keeps parsing the model after an error inside a layer', () => {
    const text = 'model a {\n  LRN(n= alpha=1)\n  maxpool\n  train { lr = 1 }\n  FC-10\n}';
    const { ast, diagnostics } = parseText(text);
    expect(where(diagnostics)).toEqual([
      "2:10 expected a number after '=', found 'alpha'",
      "4:14 expected ';' or a new line between settings, found '='",
    ]);
    expect(ast.models[0]!.layers.map((l) => l.kind)).toEqual(['maxpool', 'fc']);
    expect(ast.models[0]!.settings[0]!.entries.map((e) => e.key)).toEqual(['lr']);
  });

  it('reports thousands of bad lines one by one without running out of stack', () => {
    const lines = 3000;
    const text = `model a {\n${'  64\n'.repeat(lines)}  maxpool\n}\n${'junk\n'.repeat(lines)}`;
    const { ast, diagnostics } = parseText(text);
    expect(diagnostics.length).toBe(lines + 1);
    expect(where(diagnostics.slice(0, 2))).toEqual([
      "2:3 expected a layer, found '64'",
      "3:3 expected a layer, found '64'",
    ]);
    expect(where(diagnostics.slice(-1))).toEqual([`${lines + 4}:1 expected 'model', found 'junk'`]);
    expect(ast.models[0]!.layers.map((l) => l.kind)).toEqual(['maxpool']);
  });

  it('never words a message the way chevrotain does', () => {
    const text = 'model { ( LRN(=) x } ) ; .. = model\n{ train { 1..2 } } }';
    const { diagnostics } = parseText(text);
    expect(diagnostics.length).toBeGreaterThan(0);
    for (const d of diagnostics) {
      expect(d.message).not.toMatch(/-->|Expecting|token of type|<--/);
      expect(d.span).toBeDefined();
    }
  });

  it('refuses groups nested too deep instead of overflowing the stack', () => {
    const text = `model d {\n  ${'('.repeat(5000)}maxpool${')'.repeat(5000)}\n}`;
    const { ast, diagnostics } = parseText(text);
    expect(where(diagnostics)).toEqual(['2:67 groups nested too deeply (more than 64 levels)']);
    expect(ast.models).toEqual([]);
    const ok = parseText(`model d {\n  ${'('.repeat(64)}maxpool${') x2'.repeat(64)}\n}`);
    expect(ok.diagnostics).toEqual([]);
  });

  it('formats a diagnostic with its line and a caret under the offending text', () => {
    const source = { name: FILE, text: 'model m {\n  conv3-64, relu\n}' };
    const [d] = parse(source).diagnostics;
    expect(formatDiagnostic(d!, source)).toBe(
      [
        "net.vgg:2:13: error: unknown layer 'relu' (ReLU follows every conv and FC implicitly)",
        '    conv3-64, relu',
        '              ^~~~',
      ].join('\n'),
    );
  });
});
