/**
 * `vggc --version`, the order of argument errors, and the README against `--help`: every flag
 * a command's --help shows is in that command's README section, and every flag the section
 * names is in its --help.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { checkpointPath } from '../runtime/train/checkpoint.js';
import { errorLines, root, vggc } from './cli-harness.js';

const readme = readFileSync(join(root, 'README.md'), 'utf8');
const FLAG = /--[a-z][a-z-]*[a-z]/g;

/** Long flags of the Options: block of a --help text, without --help itself. */
function helpFlags(help: string): Set<string> {
  const options = help.split(/^Options:$/m)[1]!.split(/^\S/m)[0]!;
  const flags = [...options.matchAll(/^ {2}(?:-\w, )?(--[a-z][a-z-]*)/gm)].map((m) => m[1]!);
  return new Set(flags.filter((f) => f !== '--help'));
}

/** The README's `### vggc NAME` sections. */
function readmeSections(): Map<string, string> {
  const start = readme.indexOf('## Commands');
  const end = readme.indexOf('\n## ', start + 1);
  const commands = readme.slice(start, end < 0 ? undefined : end);
  const sections = new Map<string, string>();
  for (const part of commands.split(/^### /m).slice(1)) {
    const name = /^vggc (\S+)/.exec(part)?.[1];
    if (name) sections.set(name, part);
  }
  return sections;
}

describe('vggc --help and the README', () => {
  const top = vggc(['--help']);
  const commands = [...top.out.matchAll(/^ {2}([a-z]+) \[options\]/gm)].map((m) => m[1]!);

  it('the README has one section per command, and no section for a command that is not', () => {
    expect(top.code).toBe(0);
    expect(commands.length).toBeGreaterThanOrEqual(7);
    expect([...readmeSections().keys()].sort()).toEqual([...commands].sort());
  });

  it('every command: the flags of --help and of its README section are the same, both ways', () => {
    const sections = readmeSections();
    for (const cmd of commands) {
      const r = vggc([cmd, '--help']);
      expect(r.code, r.err).toBe(0);
      const help = helpFlags(r.out);
      expect(help.size, cmd).toBeGreaterThan(2);
      const documented = new Set(sections.get(cmd)!.match(FLAG) ?? []);
      expect(
        [...help].filter((f) => !documented.has(f)),
        `${cmd}: in --help, not in README`,
      ).toEqual([]);
      expect(
        [...documented].filter((f) => !help.has(f)),
        `${cmd}: in README, not in --help`,
      ).toEqual([]);
    }
  });

  it('the README names the checkpoint as --save really names it, and lists --version', () => {
    const train = readmeSections().get('train')!.replace(/\s+/g, ' ');
    for (const save of ['OUT.safetensors', 'foo.st']) {
      expect(train).toContain(`\`--save ${save}\` writes \`${checkpointPath(save)}\``);
    }
    expect(helpFlags(top.out)).toEqual(new Set(['--version']));
    expect(readme).toContain('vggc --version');
  });
});

describe('vggc --version and argument errors', () => {
  it('--version prints the package version', () => {
    const pkg = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')) as { version: string };
    for (const flag of ['--version', '-V']) {
      const r = vggc([flag]);
      expect(r.code).toBe(0);
      expect(r.out.trim()).toBe(pkg.version);
    }
  });

  it('an unknown flag is reported before a missing required option, in every command', () => {
    for (const cmd of ['run', 'train', 'eval', 'compile', 'init', 'classify']) {
      const args =
        cmd === 'classify' ? [cmd, 'm.vgg', 'a.png', '--bogus'] : [cmd, 'm.vgg', '--bogus'];
      const r = vggc(args);
      expect(r.code, cmd).toBe(2);
      expect(errorLines(r.err)[0], cmd).toBe("error: unknown option '--bogus'");
      expect(r.err, cmd).not.toMatch(/required option/);
    }
  });

  it('a missing required option and a missing argument are still reported', () => {
    let r = vggc(['run', 'm.vgg', '--input', 'x.npy', '--out', 'y.npy']);
    expect(r.code).toBe(2);
    expect(errorLines(r.err)[0]).toBe("error: required option '--weights <file>' not specified");
    r = vggc(['train', '--data', 'mnist', '--save', 'w.safetensors']);
    expect(r.code).toBe(2);
    expect(errorLines(r.err)[0]).toBe("error: missing required argument 'file'");
  });
});
