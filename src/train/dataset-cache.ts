/**
 * A loaded dataset to and from its browser-storage form (./browser-store.ts StoredDataset: each
 * split's web-format file, src/data/webformat.ts), fast at full size: the payload checksum is
 * WebCrypto's where there is one (encodeWebSplitAsync, decodeWebSplitAsync), each split is built
 * with one copy of its pixels, and a split read back is a view of the bytes read (no copy).
 */
import { type DatasetSplits, summarize } from '../data/dataset.ts';
import { decodeWebSplitAsync, encodeWebSplitAsync } from '../data/webformat.ts';
import { type StoredDataset } from './browser-store.ts';

export async function toStoredDataset(data: DatasetSplits): Promise<StoredDataset> {
  return {
    summary: summarize(data),
    train: await encodeWebSplitAsync(data.train, 'train', data.source, data.name),
    test: await encodeWebSplitAsync(data.test, 'test', data.source, data.name),
  };
}

/** `what` names the entry in errors ('cifar10 (browser storage)'). */
export async function fromStoredDataset(stored: StoredDataset, what: string): Promise<DatasetSplits> {
  const [train, test] = await Promise.all([decodeWebSplitAsync(stored.train, `${what}, train split`), decodeWebSplitAsync(stored.test, `${what}, test split`)]);
  return { name: stored.summary.name, source: stored.summary.source, train, test, ...(stored.summary.skippedLinks ? { skippedLinks: stored.summary.skippedLinks } : {}) };
}
