/**
 * `--data SPEC`: `mnist` is the bundled digits (mnist.ts, fixed 8,000 / 2,000 split); anything
 * else is a folder (folder.ts: class-per-folder images, or images.npy / labels.npy).
 */
import type { Dataset } from './dataset.js';
import { loadFolder, type FolderOptions } from './folder.js';
import { loadMnist } from './mnist.js';

export async function openDataset(spec: string, opts: FolderOptions = {}): Promise<Dataset> {
  const folder = datasetFolder(spec);
  return folder === undefined ? loadMnist() : loadFolder(folder, opts);
}

/** The folder `--data SPEC` reads, or undefined for the bundled digits. */
export function datasetFolder(spec: string): string | undefined {
  return spec === 'mnist' ? undefined : spec;
}
