/**
 * A decode worker of ./decode-pool.ts: decodes a batch of images (one message each way) with the
 * page's decoder (browserImageDecoder: WebCodecs' ImageDecoder where present) and sends back their
 * CHW planes in one transferred buffer, each image's size, or its error message (which names the
 * archive and entry, as `where` does).
 */
import { type DecodeBatch, type DecodedBatch } from './decode-pool.ts';
import { browserImageDecoder, type DecodedImage } from './imagefolder-web.ts';

const scope = self as unknown as DedicatedWorkerGlobalScope;

scope.onmessage = async (ev: MessageEvent<DecodeBatch>) => {
  const { id, bytes, items } = ev.data;
  const settled = await Promise.allSettled(items.map((it) => browserImageDecoder(new Uint8Array(bytes, it.offset, it.length), it.kind, it.where)));
  const decoded = settled.map((r) => (r.status === 'fulfilled' ? r.value : undefined)).filter((d): d is DecodedImage => !!d);
  const chw = new Uint8Array(decoded.reduce((n, d) => n + d.chw.length, 0));
  let at = 0;
  const results: DecodedBatch['results'] = settled.map((r) => {
    if (r.status === 'rejected') return { error: r.reason instanceof Error ? r.reason.message : String(r.reason) };
    const { width, height, chw: planes } = r.value;
    chw.set(planes, at);
    at += planes.length;
    return { width, height, offset: at - planes.length, length: planes.length };
  });
  scope.postMessage({ id, chw: chw.buffer, results } satisfies DecodedBatch, [chw.buffer]);
};
