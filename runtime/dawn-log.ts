/**
 * Dawn's own log lines, routed. Dawn writes some messages straight to the process's stderr from
 * native code, with no callback to catch them: on Mesa's lavapipe, every adapter request prints
 * two lines, `Warning: maxDynamicUniformBuffersPerPipelineLayout artificially reduced from
 * 1000000 to 16 to fit dynamic offset allocation limit` and the same for storage buffers. They
 * say that Dawn caps a limit vggc never uses (dynamic buffer offsets), so every GPU command
 * would open with two lines of noise.
 *
 * `withDawnLog` runs a Dawn call with file descriptor 2 pointing at a temporary file, then puts
 * the real stderr back and passes on every line but the known harmless ones, so that real
 * problems still reach the user. Node has no dup(2): the real stderr is kept by reopening
 * /proc/self/fd/2, which works for a terminal, a pipe and a file (what a shell gives) but not for
 * a socket (what Node's child_process gives a child by default); there, with VGGC_DEBUG set, or
 * without /proc, the call runs untouched and Dawn's lines pass through.
 */
import { closeSync, existsSync, openSync, readFileSync, unlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/** Dawn messages that say nothing a vggc user can act on. */
const HARMLESS = [/^Warning: maxDynamic\w+BuffersPerPipelineLayout artificially reduced\b/];

/** The lines of `log` that are not known to be harmless. */
export function dawnLinesToShow(log: string): string[] {
  return log.split(/\r?\n/).filter((l) => l.trim() !== '' && !HARMLESS.some((re) => re.test(l)));
}

export async function withDawnLog<T>(call: () => Promise<T>): Promise<T> {
  if (process.env.VGGC_DEBUG || !existsSync('/proc/self/fd/2')) return call();
  const file = join(tmpdir(), `.vggc-dawn-${process.pid}-${Date.now()}.log`);
  let saved: number;
  let sink: number;
  try {
    saved = openSync('/proc/self/fd/2', 'a'); // the real stderr, to put back
    sink = openSync(file, 'wx');
  } catch {
    return call();
  }
  // close(2) then open: the lowest free descriptor, 2, becomes the log file.
  closeSync(2);
  const at = openSync(file, 'a');
  try {
    return await call();
  } finally {
    closeSync(at);
    const back = openSync(`/proc/self/fd/${saved}`, 'a'); // 2 again
    closeSync(saved);
    let log = '';
    try {
      log = readFileSync(file, 'utf8');
    } finally {
      closeSync(sink);
      unlinkSync(file);
    }
    const lines = dawnLinesToShow(log);
    if (back === 2 && lines.length) process.stderr.write(lines.join('\n') + '\n');
  }
}
