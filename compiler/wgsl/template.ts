/** Small helpers the WGSL generators share to build readable, specialised kernel text. */

/** `[0, 1, ..., n - 1]`, for unrolling over a register tile. */
export const range = (n: number): number[] => [...Array(n).keys()];

/** Joins generated lines, indenting each (and every line inside a multi-line entry) by `by`. */
export function indent(lines: string[], by: number): string {
  return lines.map((l) => l.replace(/^/gm, ' '.repeat(by))).join('\n');
}

/** A WGSL f32 literal that round-trips the JavaScript number; `what` names it in the error. */
export function f32Literal(v: number, what: string): string {
  if (!Number.isFinite(v)) throw new Error(`${what}: parameter ${v} is not finite`);
  const s = String(v);
  return /[.eE]/.test(s) ? s : `${s}.0`;
}

export function gcd(a: number, b: number): number {
  while (b !== 0) [a, b] = [b, a % b];
  return a;
}

export const lcm = (a: number, b: number): number => (a * b) / gcd(a, b);
