/**
 * `npm run data -- [--from <archive|folder|synthetic>] [--out public/data/cifar10] [--train-limit N] [--test-limit M] [--seed S]`
 * Converts a dataset into the web format the page loads (./src/data/webformat.ts): train.bin,
 * test.bin and manifest.json in --out. Without --from it downloads the official CIFAR-10 binary
 * release into a cache folder (once), checks its published MD5, and converts that.
 */
import { mkdirSync, renameSync, writeFileSync } from 'node:fs';
import { basename, join } from 'node:path';
import { skippedLinksNote, type Split, summarize } from '../data/dataset.ts';
import { CIFAR10_BINARY_MD5, CIFAR10_BINARY_URL, downloadVerified } from '../data/download-node.ts';
import { loadDataset } from '../data/load-node.ts';
import { encodeWebSplit, readWebSplitHeader, type WebManifest } from '../data/webformat.ts';
import { parseArgsOrExit } from './args.ts';

const args = parseArgsOrExit('npm run data --', process.argv.slice(2), {
  from: { type: 'string', value: 'PATH', help: 'dataset to convert: a .tar.gz (CIFAR-10 binary or ImageFolder), a folder, or "synthetic" (default: download CIFAR-10)' },
  out: { type: 'string', value: 'DIR', help: 'output folder (default public/data/cifar10)' },
  'train-limit': { type: 'number', help: 'keep a seeded, class-balanced subset of N training images' },
  'test-limit': { type: 'number', help: 'the same for the test split' },
  seed: { type: 'number', help: 'seed of the subsets (default 0)' },
  splits: { type: 'list', value: 'train,test', help: 'splits to convert (default train,test)' },
  url: { type: 'string', value: 'URL', help: `where to download from without --from (default ${CIFAR10_BINARY_URL})` },
  md5: { type: 'string', value: 'HEX', help: `expected MD5 of the download (default ${CIFAR10_BINARY_MD5})` },
  cache: { type: 'string', value: 'DIR', help: 'download cache folder (default .data-cache)' },
});

const fail = (message: string): never => {
  console.error(`data: ${message}`);
  process.exit(1);
};

const splits = (args.splits ?? ['train', 'test']) as Split[];
for (const s of splits) if (s !== 'train' && s !== 'test') fail(`--splits: "${s}" is not a split (train, test)`);
const out = args.out ?? join('public', 'data', 'cifar10');
const seed = args.seed ?? 0;

/** Progress lines on stderr: rewritten in place on a terminal, at most one every 2 s otherwise. */
let lastLine = -Infinity;
const progress = (line: string, final = false) => {
  if (process.stderr.isTTY) process.stderr.write(`\r${line}\x1b[K${final ? '\n' : ''}`);
  else if (final || performance.now() - lastLine > 2000) {
    process.stderr.write(`${line}\n`);
    lastLine = performance.now();
  }
};

try {
  let from = args.from;
  if (from === undefined) {
    const url = args.url ?? CIFAR10_BINARY_URL;
    const mb = (n: number) => (n / 1e6).toFixed(1);
    from = await downloadVerified({
      url, md5: args.md5 ?? CIFAR10_BINARY_MD5, dir: args.cache ?? '.data-cache',
      onProgress: (bytes, total) => progress(`downloading ${url}: ${mb(bytes)}${total ? `/${mb(total)}` : ''} MB`, bytes === total),
    });
    console.error(`using ${from} (MD5 checked)`);
  }
  const data = await loadDataset(from, {
    trainLimit: args['train-limit'], testLimit: args['test-limit'], seed, splits,
    onProgress: (done, total, what) => progress(`read ${done}/${total} ${what}`, done === total),
  });
  const linksNote = skippedLinksNote(summarize(data));
  if (linksNote) console.log(`${from}: ${linksNote}`);
  const limited = args['train-limit'] !== undefined || args['test-limit'] !== undefined;
  const source = from === 'synthetic' ? data.source : `${basename(from)}${limited ? ` (class-balanced subset, seed ${seed})` : ''}`;
  mkdirSync(out, { recursive: true });
  const manifest: WebManifest = { format: 'LFDS1', name: data.name, source, classes: [...data.train.count ? data.train.classes : data.test.classes], files: [] };
  for (const split of splits) {
    const bytes = encodeWebSplit(data[split], split, source, data.name);
    const file = `${split}.bin`;
    writeAtomically(join(out, file), bytes);
    manifest.files.push({ split, file, count: data[split].count, bytes: bytes.length, sha256: readWebSplitHeader(bytes, file).header.sha256 });
    console.log(`wrote ${join(out, file)}: ${data[split].count} images, ${(bytes.length / 1e6).toFixed(1)} MB`);
  }
  writeAtomically(join(out, 'manifest.json'), new TextEncoder().encode(JSON.stringify(manifest, null, 2) + '\n'));
  console.log(`wrote ${join(out, 'manifest.json')}`);
} catch (e) {
  fail((e as Error).message);
}

/** Written under a temporary name and renamed, so a reader never sees half a file. */
function writeAtomically(path: string, bytes: Uint8Array): void {
  writeFileSync(`${path}.tmp`, bytes);
  renameSync(`${path}.tmp`, path);
}
