/**
 * `loadDataset(spec)`: one entry point, in Node, for every dataset labelflow reads. `spec` is
 *   "synthetic"                     the generated set of ./synthetic.ts (limits are its sizes);
 *   a folder with manifest.json     the web format written by `npm run data` (./webformat.ts);
 *   a folder with cifar-10-batches-bin/, or with data_batch_*.bin / test_batch.bin themselves;
 *   a .tar.gz / .tgz                the official binary release or an ImageFolder archive,
 *                                   told apart by the names of its first entries.
 * Limits draw seeded class-balanced subsets (./subset.ts); for an ImageFolder archive the subset
 * is drawn from the entries' names and only the chosen images are decoded.
 */
import { readdir, readFile, stat } from 'node:fs/promises';
import { basename, join } from 'node:path';
import { isCifarBinaryPath, type NamedFile, readCifarBinary } from './cifar-binary.ts';
import { CIFAR10_CLASSES, type DatasetSplits, emptyImageSet, type ImageSet, limitImageSet, type LoadOptions, type Split, SPLITS, subsetIndices } from './dataset.ts';
import { nodeImageDecoder } from './imagefolder.ts';
import { decodeImageEntries, type ImageEntry, imageEntries, isImageFolderPath } from './imagefolder-web.ts';
import { syntheticDataset } from './synthetic.ts';
import { readTarGz, type TarReadOptions } from './tar.ts';
import { decodeWebSplit, type WebManifest } from './webformat.ts';

export type { DatasetSplits, ImageSet, LoadOptions, Split } from './dataset.ts';

const WHAT_IS_A_DATASET = '"synthetic", a folder (npm run data output, or CIFAR-10 binary batches) or a .tar.gz / .tgz (the CIFAR-10 binary release, or an ImageFolder archive)';

export async function loadDataset(spec: string, o: LoadOptions = {}): Promise<DatasetSplits> {
  const splits = o.splits ?? SPLITS;
  const seed = o.seed ?? 0;
  if (spec === 'synthetic') {
    return syntheticDataset({ train: splits.includes('train') ? o.trainLimit ?? 5000 : 0, test: splits.includes('test') ? o.testLimit ?? 1000 : 0, seed });
  }
  let isDirectory: boolean;
  try {
    isDirectory = (await stat(spec)).isDirectory();
  } catch {
    throw new Error(`${spec}: no such file or folder; a dataset is ${WHAT_IS_A_DATASET}`);
  }
  if (isDirectory) {
    const names = await readdir(spec);
    if (names.includes('manifest.json')) return loadWebFormat(spec, o);
    const folder = names.includes('cifar-10-batches-bin') ? join(spec, 'cifar-10-batches-bin') : spec;
    const batchNames = (folder === spec ? names : await readdir(folder)).filter(isCifarBinaryPath).sort();
    if (batchNames.length === 0) throw new Error(`${spec}: no dataset in this folder: expected manifest.json (npm run data output), a cifar-10-batches-bin/ folder, or data_batch_*.bin / test_batch.bin`);
    const sets = await readCifarBinary(folderFiles(folder, batchNames), folder, { splits, onProgress: o.onProgress });
    return limited({ name: 'cifar10', source: spec, ...sets }, spec, o);
  }
  if (!/\.(tar\.gz|tgz)$/i.test(spec)) throw new Error(`${spec}: not a dataset; a dataset is ${WHAT_IS_A_DATASET}`);
  let skippedLinks = 0;
  const tar: TarReadOptions = { onLink: () => { skippedLinks++; } };
  if ((await archiveKind(spec)) === 'cifar-binary') {
    const sets = await readCifarBinary(readTarGz(spec, tar), spec, { splits, onProgress: o.onProgress });
    return limited({ name: 'cifar10', source: spec, ...sets, skippedLinks }, spec, o);
  }
  const sets = await loadImageFolder(spec, o, tar);
  return { ...sets, skippedLinks };
}

/** A folder's files, read one at a time as they are consumed. */
async function* folderFiles(folder: string, names: string[]): AsyncGenerator<NamedFile> {
  for (const name of names) yield { path: name, data: new Uint8Array(await readFile(join(folder, name))) };
}

/** Which format a .tar.gz holds, from the first entry whose name tells. */
async function archiveKind(file: string): Promise<'cifar-binary' | 'imagefolder'> {
  const seen: string[] = [];
  for await (const e of readTarGz(file)) {
    if (isCifarBinaryPath(e.path)) return 'cifar-binary';
    if (isImageFolderPath(e.path)) return 'imagefolder';
    seen.push(e.path);
  }
  const examples = seen.slice(0, 3).join(', ') + (seen.length > 3 ? ', …' : '');
  throw new Error(`${file}: neither the CIFAR-10 binary release (data_batch_*.bin, test_batch.bin) nor an ImageFolder archive (train|test/<class>/*.jpg|png); its ${seen.length} files: ${examples}`);
}

function limited(d: DatasetSplits, where: string, o: LoadOptions): DatasetSplits {
  const seed = o.seed ?? 0;
  return {
    ...d,
    train: limitImageSet(d.train, d.train.count ? o.trainLimit : undefined, seed, 'train', where),
    test: limitImageSet(d.test, d.test.count ? o.testLimit : undefined, seed, 'test', where),
  };
}

/**
 * One pass over the archive collects every image entry, still compressed (about the archive's
 * size in memory); the subsets are drawn from their labels, then only the chosen images decoded.
 */
async function loadImageFolder(file: string, o: LoadOptions, tar: TarReadOptions): Promise<DatasetSplits> {
  const splits = o.splits ?? SPLITS;
  const listed: Record<Split, ImageEntry[]> = { train: [], test: [] };
  for await (const image of imageEntries(readTarGz(file, tar), file, CIFAR10_CLASSES)) listed[image.entry.split].push(image);
  const select: Partial<Record<Split, true | ((e: { index: number }) => boolean)>> = {};
  const totals: Record<Split, number> = { train: 0, test: 0 };
  for (const split of splits) {
    if (listed[split].length === 0) throw new Error(`${file}: no images in the "${split}" split`);
    const chosen = subsetIndices(listed[split].map((e) => e.entry.label), CIFAR10_CLASSES.length, split === 'train' ? o.trainLimit : o.testLimit, o.seed ?? 0, split, file);
    totals[split] = chosen?.length ?? listed[split].length;
    if (!chosen) select[split] = true;
    else {
      const keep = new Set(chosen);
      select[split] = (e) => keep.has(e.index);
    }
  }
  const sets = await decodeImageEntries([...listed.test, ...listed.train], file, {
    select,
    decode: nodeImageDecoder,
    onProgress: (done, split) => o.onProgress?.(done, totals[split], `${split} images`),
  });
  return { name: 'cifar10', source: file, train: sets.train ?? emptyImageSet(CIFAR10_CLASSES), test: sets.test ?? emptyImageSet(CIFAR10_CLASSES) };
}

/** A folder written by `npm run data`: manifest.json and one LFDS1 file per split. */
async function loadWebFormat(dir: string, o: LoadOptions): Promise<DatasetSplits> {
  const manifestPath = join(dir, 'manifest.json');
  let manifest: WebManifest;
  try {
    manifest = JSON.parse(await readFile(manifestPath, 'utf8'));
  } catch (e) {
    throw new Error(`${manifestPath}: unreadable (${(e as Error).message})`);
  }
  if (manifest?.format !== 'LFDS1' || !Array.isArray(manifest.files)) throw new Error(`${manifestPath}: not a labelflow manifest (format "${manifest?.format}", expected "LFDS1" with a list of files)`);
  const out: Record<Split, ImageSet> = { train: emptyImageSet(manifest.classes ?? CIFAR10_CLASSES), test: emptyImageSet(manifest.classes ?? CIFAR10_CLASSES) };
  for (const split of o.splits ?? SPLITS) {
    const entry = manifest.files.find((f) => f.split === split);
    if (!entry) throw new Error(`${manifestPath}: lists no ${split} split (it has ${manifest.files.map((f) => f.split).join(', ') || 'none'})`);
    const path = join(dir, basename(entry.file));
    let bytes: Uint8Array;
    try {
      bytes = new Uint8Array(await readFile(path));
    } catch (e) {
      throw new Error(`${path}: listed in manifest.json but unreadable (${(e as Error).message})`);
    }
    const set = decodeWebSplit(bytes, path);
    if (set.count !== entry.count) throw new Error(`${path}: holds ${set.count} images, manifest.json says ${entry.count}`);
    o.onProgress?.(set.count, set.count, `${split} images`);
    out[split] = set;
  }
  return limited({ name: manifest.name, source: manifest.source, ...out }, dir, o);
}
