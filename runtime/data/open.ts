/**
 * `--data SPEC`: `mnist` is the bundled digits (mnist.ts, fixed 8,000 / 2,000 split); anything
 * else is a folder (folder.ts: class-per-folder images, or images.npy / labels.npy).
 */
import type { Dataset } from './dataset.js';
import { loadFolder, type FolderOptions } from './folder.js';
import { loadMnist } from './mnist.js';

export async function openDataset(spec: string, opts: FolderOptions = {}): Promise<Dataset> {
  if (spec === 'mnist') return loadMnist();
  return loadFolder(spec, opts);
}
