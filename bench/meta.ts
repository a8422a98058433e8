/** What names a result file: the date, the commit and the adapter. */
import { execSync } from 'node:child_process';
import type { Gpu } from '../runtime/device.js';

export function meta(gpu: Gpu): { date: string; commit: string; slug: string } {
  const date = new Date().toISOString().slice(0, 10);
  let commit = 'unknown';
  try {
    commit = execSync('git rev-parse --short HEAD', { encoding: 'utf8' }).trim();
  } catch {
    /* not a git checkout */
  }
  const slug = gpu.adapter.software
    ? 'lavapipe'
    : gpu.adapter.description.replace(/\W+/g, '-').toLowerCase();
  return { date, commit, slug };
}
