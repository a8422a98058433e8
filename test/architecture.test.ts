/**
 * The shape of the code (docs/architecture.md): no import cycle anywhere in the project, and
 * runtime/ reaches the compiler's passes only through compiler/compile.ts, never
 * compiler/passes/ itself. Imports are read with TypeScript's own pre-processor (type-only
 * imports and re-exports count: a cycle of types is still a cycle for a reader).
 */
import { readFileSync, readdirSync, statSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import ts from 'typescript';
import { describe, expect, it } from 'vitest';

const root = resolve(new URL('..', import.meta.url).pathname);
const ROOTS = ['dsl', 'compiler', 'runtime', 'cli', 'bench', 'index.ts'];

function sources(path: string): string[] {
  if (statSync(path).isFile()) return path.endsWith('.ts') ? [path] : [];
  return readdirSync(path).flatMap((name) => sources(join(path, name)));
}

/** Project file (relative to the root) -> the project files it imports. */
function importGraph(files: readonly string[]): Map<string, string[]> {
  const graph = new Map<string, string[]>();
  for (const file of files) {
    const info = ts.preProcessFile(readFileSync(file, 'utf8'), true, true);
    const deps = info.importedFiles
      .map((f) => f.fileName)
      .filter((spec) => spec.startsWith('.'))
      .map((spec) => relative(root, resolve(dirname(file), spec.replace(/\.js$/, '.ts'))));
    graph.set(relative(root, file), [...new Set(deps)]);
  }
  return graph;
}

/** Every cycle of `graph`, each once, as the list of files around it (Tarjan's SCCs). */
function cycles(graph: ReadonlyMap<string, readonly string[]>): string[][] {
  const index = new Map<string, number>();
  const low = new Map<string, number>();
  const stack: string[] = [];
  const onStack = new Set<string>();
  const found: string[][] = [];
  const visit = (v: string) => {
    index.set(v, index.size);
    low.set(v, index.get(v)!);
    stack.push(v);
    onStack.add(v);
    for (const w of graph.get(v) ?? []) {
      if (!index.has(w)) {
        visit(w);
        low.set(v, Math.min(low.get(v)!, low.get(w)!));
      } else if (onStack.has(w)) {
        low.set(v, Math.min(low.get(v)!, index.get(w)!));
      }
    }
    if (low.get(v) === index.get(v)) {
      const scc: string[] = [];
      let w: string;
      do {
        w = stack.pop()!;
        onStack.delete(w);
        scc.push(w);
      } while (w !== v);
      if (scc.length > 1 || (graph.get(v) ?? []).includes(v)) found.push(scc.sort());
    }
  };
  for (const v of graph.keys()) if (!index.has(v)) visit(v);
  return found;
}

const project = importGraph(ROOTS.flatMap((r) => sources(join(root, r))));

describe('the import graph', () => {
  it('reads the project: every import resolves to a project file', () => {
    expect(project.size).toBeGreaterThan(50);
    expect(project.get('compiler/compile.ts')).toContain('compiler/schedule.ts');
    const missing = [...project].flatMap(([f, deps]) =>
      deps.filter((d) => !project.has(d)).map((d) => `${f} -> ${d}`),
    );
    expect(missing).toEqual([]);
  });

  it('finds a cycle when there is one', () => {
    const g = new Map([
      ['a.ts', ['b.ts']],
      ['b.ts', ['c.ts']],
      ['c.ts', ['a.ts', 'd.ts']],
      ['d.ts', []],
      ['e.ts', ['e.ts']],
    ]);
    expect(cycles(g)).toEqual([['a.ts', 'b.ts', 'c.ts'], ['e.ts']]);
    expect(
      cycles(
        new Map([
          ['a.ts', ['b.ts']],
          ['b.ts', []],
        ]),
      ),
    ).toEqual([]);
  });

  it('has no cycle', () => {
    expect(cycles(project)).toEqual([]);
  });

  it('runtime/ imports nothing from compiler/passes/', () => {
    const offenders = [...project]
      .filter(([f]) => f.startsWith('runtime/'))
      .flatMap(([f, deps]) =>
        deps.filter((d) => d.startsWith('compiler/passes/')).map((d) => `${f} -> ${d}`),
      );
    expect(offenders).toEqual([]);
  });
});
