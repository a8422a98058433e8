/**
 * Comments and docs link only to files inside the repository, and every such link resolves:
 * a reader following a link never leaves the project or lands on a file that moved.
 */
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { dirname, join, relative } from 'node:path';
import { describe, expect, it } from 'vitest';

const root = new URL('..', import.meta.url).pathname;
const FOLDERS = ['dsl', 'compiler', 'runtime', 'cli', 'bench', 'docs', 'scripts', 'test'];
const SKIP = new Set(['node_modules', 'dist', 'fixtures', 'results']);

function files(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const path = join(dir, name);
    if (SKIP.has(name)) return [];
    if (statSync(path).isDirectory()) return files(path);
    return /\.(ts|mjs|md|sh|py)$/.test(name) ? [path] : [];
  });
}

const all = [
  ...FOLDERS.flatMap((f) => files(join(root, f))),
  ...['README.md', 'grammar.md', 'index.ts'].map((f) => join(root, f)),
];

/** Markdown links `[text](target)`, without anchors. */
const mdLinks = (text: string): string[] =>
  [...text.matchAll(/\]\(([^)\s]+)\)/g)].map((m) => m[1]!.replace(/#.*$/, '')).filter(Boolean);

/** URLs in comments: `// ... http...` and `* ... http...` lines. */
const commentUrls = (text: string): string[] =>
  text
    .split('\n')
    .filter((l) => /^\s*(\/\/|\*|#)/.test(l))
    .flatMap((l) => [...l.matchAll(/https?:\/\/\S+/g)].map((m) => m[0]));

describe('links in docs and comments', () => {
  it('found files to check', () => {
    expect(all.length).toBeGreaterThan(100);
  });

  it('no link or comment points outside the repository', () => {
    const outside = all.flatMap((f) => {
      const text = readFileSync(f, 'utf8');
      const md = f.endsWith('.md') ? mdLinks(text).filter((l) => /^[a-z]+:/i.test(l)) : [];
      return [...md, ...commentUrls(text)].map((l) => `${relative(root, f)}: ${l}`);
    });
    expect(outside).toEqual([]);
  });

  it('no file names a path of the machine it was written on, or a folder beside the repository', () => {
    // Temporary files (/tmp/...) are fine; a home, a work tree or ../shared is not in a clone.
    const machine = /(?:^|[\s(`'"])(?:\/work\/|\/root\/|\/home\/|\.\.\/shared\/)/;
    const found = all.flatMap((f) =>
      readFileSync(f, 'utf8')
        .split('\n')
        .map((line, i) => ({ line, i }))
        .filter(({ line }) => machine.test(line))
        .map(({ line, i }) => `${relative(root, f)}:${i + 1}: ${line.trim()}`),
    );
    expect(found).toEqual([]);
  });

  it('every relative link in a markdown file names a file that exists', () => {
    const broken = all
      .filter((f) => f.endsWith('.md'))
      .flatMap((f) =>
        mdLinks(readFileSync(f, 'utf8'))
          .filter((l) => !/^[a-z]+:/i.test(l))
          .filter((l) => !existsSync(join(dirname(f), l)))
          .map((l) => `${relative(root, f)}: ${l}`),
      );
    expect(broken).toEqual([]);
  });
});
