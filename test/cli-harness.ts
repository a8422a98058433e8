/** Runs the built CLI (dist/cli/main.js) as a user does, for the end-to-end CLI tests. */
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';

export const root = new URL('..', import.meta.url).pathname;

export interface CliResult {
  readonly code: number | null;
  readonly out: string;
  readonly err: string;
}

/** `vggc ...args` in `cwd` (default: the repository root). */
export function vggc(args: readonly string[], cwd = root): CliResult {
  const r = spawnSync(process.execPath, [join(root, 'dist/cli/main.js'), ...args], {
    cwd,
    encoding: 'utf8',
  });
  return { code: r.status, out: r.stdout, err: r.stderr };
}

/** The lines of stderr that are not Dawn's warnings. */
export const errorLines = (err: string): string[] =>
  err.split('\n').filter((l) => l.trim() !== '' && !l.startsWith('Warning:'));
