/**
 * What this page keeps in browser storage and how much: the origin's usage and quota
 * (navigator.storage.estimate()), whether the browser granted persistent storage (asked with
 * navigator.storage.persist() once something large is stored, or with the button), and each cached
 * dataset, teacher's maps and the runs' checkpoints with their sizes; a dataset or teacher maps can
 * be deleted. Also the one-line notes on a dataset's and a teacher's cache (DatasetCacheNote,
 * TeacherCacheNote) that the controls show.
 */
import { useCallback, useEffect, useState } from 'react';
import { type DatasetKey, type StoredEntry } from '../train/browser-store.ts';
import { type DatasetKind, type TeacherReport } from '../train/protocol.ts';
import { pageStore, useStore } from './store.ts';

const mb = (bytes: number) => `${(bytes / 1e6).toLocaleString('en-US', { maximumFractionDigits: 1, minimumFractionDigits: 1 })} MB`;

type Persistence = 'unknown' | 'granted' | 'not granted' | 'unsupported';

interface Listing {
  entries: StoredEntry[];
  usage?: number;
  quota?: number;
  largeDataUnavailable?: string;
  error?: string;
}

/** teacherMapsKey's parts: 'maps-v1:<teacher sha256>:<count>x<channels>x<size>x<size>-<images sha256>'. */
function describeMapsKey(key: string): string {
  const [, teacher, images] = key.split(':');
  const count = /^(\d+)x/.exec(images ?? '')?.[1];
  return teacher ? `teacher ${teacher.slice(0, 12)}…${count ? ` · ${Number(count).toLocaleString('en-US')} images` : ''}` : key;
}

export function StoragePanel() {
  const { datasetCache, teacher, runs, checkpointError, state } = useStore();
  const [listing, setListing] = useState<Listing>({ entries: [] });
  const [persistence, setPersistence] = useState<Persistence>('unknown');
  const [deleting, setDeleting] = useState<string>();
  const storage = typeof navigator === 'undefined' ? undefined : navigator.storage;

  const refresh = useCallback(async () => {
    try {
      const store = await pageStore();
      const [entries, estimate] = await Promise.all([store.listStored(), storage?.estimate?.().catch(() => undefined)]);
      setListing({ entries, usage: estimate?.usage, quota: estimate?.quota, largeDataUnavailable: store.largeDataUnavailable });
    } catch (e) {
      setListing((l) => ({ ...l, error: e instanceof Error ? e.message : String(e) }));
    }
  }, [storage]);

  const askPersistence = useCallback(async () => {
    if (!storage?.persist) return setPersistence('unsupported');
    setPersistence((await storage.persist().catch(() => false)) ? 'granted' : 'not granted');
  }, [storage]);

  useEffect(() => {
    if (!storage?.persisted) setPersistence('unsupported');
    else void storage.persisted().then((p) => setPersistence(p ? 'granted' : 'not granted'), () => setPersistence('unsupported'));
  }, [storage]);

  // Something large was just stored: ask the browser to keep it (Chromium answers without a prompt, by the site's engagement).
  const wroteSomething = Object.values(datasetCache).some((c) => c?.stored && !c.fromCache) || !!teacher?.stored;
  useEffect(() => {
    if (wroteSomething && persistence === 'not granted') void askPersistence();
  }, [wroteSomething, persistence, askPersistence]);

  useEffect(() => {
    void refresh();
  }, [refresh, datasetCache, teacher, runs]);

  const remove = async (e: StoredEntry) => {
    setDeleting(`${e.kind}:${e.key}`);
    try {
      const store = await pageStore();
      if (e.kind === 'dataset') {
        await store.clearDataset(e.key as DatasetKey);
        useStore.setState((s) => ({ datasetCache: { ...s.datasetCache, [e.key]: undefined } }));
      } else if (e.kind === 'teacher-maps') await store.removeTeacherMaps(e.key);
    } catch (err) {
      setListing((l) => ({ ...l, error: err instanceof Error ? err.message : String(err) }));
    } finally {
      setDeleting(undefined);
      await refresh();
    }
  };

  const datasets = listing.entries.filter((e) => e.kind === 'dataset');
  const maps = listing.entries.filter((e) => e.kind === 'teacher-maps');
  const checkpoints = listing.entries.filter((e) => e.kind === 'checkpoint');
  const checkpointBytes = checkpoints.reduce((n, e) => n + (e.bytes ?? 0), 0);
  const busy = state === 'loading' || state === 'starting';
  const row = (e: StoredEntry, label: string) => (
    <li key={`${e.kind}:${e.key}`} data-testid="stored-entry" data-kind={e.kind} data-key={e.key} data-bytes={e.bytes ?? ''} data-where={e.where}>
      {label} · {e.bytes !== undefined ? mb(e.bytes) : 'size not measured'}{e.where === 'indexeddb' ? ' (kept by an earlier version, in IndexedDB)' : ''}
      {' '}<button type="button" disabled={busy || deleting !== undefined} onClick={() => void remove(e)}>{deleting === `${e.kind}:${e.key}` ? 'Deleting…' : 'Delete'}</button>
    </li>
  );
  return (
    <section className="runs storage" data-testid="storage">
      <h3>Storage</h3>
      <p className="note" data-testid="storage-estimate" data-usage={listing.usage ?? ''} data-quota={listing.quota ?? ''}>
        {listing.usage !== undefined && listing.quota !== undefined
          ? `This site uses ${mb(listing.usage)} of the ${mb(listing.quota)} the browser allows it.`
          : 'This browser does not say how much storage the site uses.'}
      </p>
      <p className="note" data-testid="storage-persistence" data-persistence={persistence}>
        {persistence === 'granted' && 'Persistent storage granted: the browser keeps what is stored here until you delete it.'}
        {persistence === 'not granted' && <>Persistent storage not granted: the browser may clear stored datasets and runs when disk space runs low.{' '}
          <button type="button" onClick={() => void askPersistence()}>Ask again</button></>}
        {persistence === 'unsupported' && 'This browser cannot be asked for persistent storage.'}
        {persistence === 'unknown' && 'Checking whether storage is persistent…'}
      </p>
      {listing.largeDataUnavailable && <p className="note error">Datasets and teacher maps cannot be stored here: {listing.largeDataUnavailable}.</p>}
      {checkpointError && <p role="alert" className="error" data-testid="checkpoint-error">{checkpointError}</p>}
      {listing.error && <p role="alert" className="error">browser storage: {listing.error}</p>}
      <ul>
        {datasets.map((e) => row(e, `dataset ${e.key}`))}
        {maps.map((e) => row(e, `teacher maps: ${describeMapsKey(e.key)}`))}
        {checkpoints.length > 0 && (
          <li data-testid="stored-checkpoints" data-count={checkpoints.length} data-bytes={checkpointBytes}>
            {checkpoints.length} run checkpoint{checkpoints.length === 1 ? '' : 's'} · {mb(checkpointBytes)} (deleted with their runs under Runs)
          </li>
        )}
        {!datasets.length && !maps.length && !checkpoints.length && <li className="note">Nothing stored yet: loaded datasets, teacher maps and checkpoints are kept here.</li>}
      </ul>
    </section>
  );
}

/** One line under the dataset: read from browser storage, stored there, or why it could not be stored. */
export function DatasetCacheNote({ kind }: { kind: DatasetKind }) {
  const report = useStore((s) => s.datasetCache[kind]);
  if (!report) return null;
  const attrs = { 'data-testid': 'dataset-cache', 'data-stored': report.stored, 'data-from-cache': report.fromCache, 'data-bytes': report.bytes ?? '' };
  if (!report.stored) {
    return <p role="status" className="note error" {...attrs}>Not cached: the dataset could not be written to browser storage ({report.message}); this run trains from memory and a reload loads it again.</p>;
  }
  const size = report.bytes !== undefined ? mb(report.bytes) : '';
  const time = report.seconds !== undefined ? ` in ${report.seconds.toFixed(1)} s` : '';
  return <p className="note" {...attrs}>{report.fromCache ? `Cached: read from browser storage (${size}${time}).` : `Cached in browser storage (${size}, written${time}): a reload starts from it.`}</p>;
}

/** One line under the teacher: whether its computed maps were stored (or why not). */
export function TeacherCacheNote({ teacher }: { teacher: TeacherReport }) {
  if (teacher.cached) return null;
  if (teacher.stored === false) {
    return <p role="status" className="note error" data-testid="teacher-cache" data-stored="false">Not cached: the teacher's maps could not be written to browser storage ({teacher.storeError}); this run uses them from memory.</p>;
  }
  return teacher.stored ? <p className="note" data-testid="teacher-cache" data-stored="true" data-bytes={teacher.bytes ?? ''}>Maps cached in browser storage ({mb(teacher.bytes ?? 0)}): the next run with this teacher and training set reads them.</p> : null;
}
