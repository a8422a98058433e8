/**
 * The "compiling 19 kernels [bar]" line that every GPU command shows while runtime/warmup.ts
 * compiles its pipelines: a cli-progress bar on a terminal; elsewhere one line at the start and
 * one at the end. Rendering only: the library reports (done, total).
 */
import { SingleBar } from 'cli-progress';

/** A `(done, total)` callback drawing the compile progress on stderr (`err` off a terminal). */
export function compileProgress(err: (s: string) => void): (done: number, total: number) => void {
  const tty = process.stderr.isTTY === true;
  let bar: SingleBar | undefined;
  let started = 0;
  const kernels = (n: number) => `${n} kernel${n === 1 ? '' : 's'}`;
  return (done, total) => {
    if (done === 0) {
      started = performance.now();
      if (!tty) err(`compiling ${kernels(total)} ...`);
      else {
        bar = new SingleBar({
          format: `compiling ${kernels(total)} [{bar}] {value}/{total} | {duration_formatted}`,
          stream: process.stderr,
          hideCursor: true,
          clearOnComplete: false,
        });
        bar.start(total, 0);
      }
      return;
    }
    bar?.update(done);
    if (done < total) return;
    bar?.stop();
    bar = undefined;
    if (!tty)
      err(`compiled ${kernels(total)} in ${((performance.now() - started) / 1000).toFixed(1)} s`);
  };
}
