/**
 * CIFAR-10 from the Hugging Face Hub's parquet files (src/data/hub-parquet.ts), served by a local
 * HTTP server with files written at test time (tests/unit/helpers/hub-parquet-files.ts) and read
 * with Node's fetch and the pngjs decoder: a good pair loads pixel for pixel, with progress in
 * bytes and images; the real counts are required unless a test names its own; a failed fetch, a
 * 404, another status, a body cut mid-transfer, a truncated file, an HTML page, another schema,
 * a label outside 0–9, an image that is not 32×32 and one that is not an image each get their own
 * error naming the URL; a failure of one split aborts the other's download. And the PNG decoder the
 * page puts in front of the browser's (src/data/png-decode.ts) against pngjs: every colour type
 * and row filter, a palette, multiple IDAT chunks, the variants it leaves to the fallback, damage.
 */
import assert from 'node:assert/strict';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { deflateSync } from 'node:zlib';
import { PNG } from 'pngjs';
import { after, before, describe, test } from 'node:test';
import { CIFAR10_CLASSES, type Split } from '../../src/data/dataset.ts';
import { nodeImageDecoder } from '../../src/data/imagefolder.ts';
import { type DecodedImage, type ImageDecoder } from '../../src/data/imagefolder-web.ts';
import { decodePng, withPngDecoder } from '../../src/data/png-decode.ts';
import { HUB_CIFAR10_BASE_URL, HUB_CIFAR10_FILES, hubFolderUrl, loadHubParquet } from '../../src/data/hub-parquet.ts';
import { syntheticDataset } from '../../src/data/synthetic.ts';
import { rejectsWith } from './helpers/cifar-fixtures.ts';
import { hubParquet, otherSchemaParquet, pngOf, pngsOf, wrongTypesParquet } from './helpers/hub-parquet-files.ts';

const COUNTS: Record<Split, number> = { train: 300, test: 120 };
const source = syntheticDataset({ train: COUNTS.train, test: COUNTS.test, seed: 3 });
const pngs = { train: pngsOf(source.train), test: pngsOf(source.test) };
const labels = { train: [...source.train.labels], test: [...source.test.labels] };
const good = {
  train: hubParquet(pngs.train, labels.train, { rowGroupSize: 128 }),
  test: hubParquet(pngs.test, labels.test, { rowGroupSize: 50 }),
};

type Handler = (req: IncomingMessage, res: ServerResponse) => void;
/** Folder name → what its two files answer; "good" by default. */
const folders = new Map<string, Partial<Record<Split, Handler>>>();
let server: Server;
let origin: string;
const requests: string[] = [];

const sendBytes = (bytes: Uint8Array, headers: Record<string, string | number> = {}): Handler => (_req, res) => {
  res.writeHead(200, { 'content-type': 'application/octet-stream', 'content-length': bytes.length, ...headers });
  res.end(bytes);
};
/** Announces the whole file, sends `share` of it, then drops the connection. */
const cutAt = (bytes: Uint8Array, share: number): Handler => (_req, res) => {
  res.writeHead(200, { 'content-type': 'application/octet-stream', 'content-length': bytes.length });
  res.write(bytes.subarray(0, Math.floor(bytes.length * share)), () => setTimeout(() => res.socket?.destroy(), 50));
};
/** No content-length (chunked), and a clean end after `share` of the file. */
const endsEarly = (bytes: Uint8Array, share: number): Handler => (_req, res) => {
  res.writeHead(200, { 'content-type': 'application/octet-stream' });
  res.end(bytes.subarray(0, Math.floor(bytes.length * share)));
};
const status = (code: number, body = 'nope'): Handler => (_req, res) => res.writeHead(code, { 'content-type': 'text/plain' }).end(body);
let slowClosedAt: number | undefined;
/** Sends the file a few bytes every 100 ms (about a minute in all); notes when the client hung up. */
const slow = (bytes: Uint8Array): Handler => (req, res) => {
  res.writeHead(200, { 'content-type': 'application/octet-stream', 'content-length': bytes.length });
  let at = 0;
  const timer = setInterval(() => {
    res.write(bytes.subarray(at, at + 1000));
    at += 1000;
    if (at >= bytes.length) {
      clearInterval(timer);
      res.end();
    }
  }, 100);
  req.socket.on('close', () => {
    clearInterval(timer);
    slowClosedAt = Date.now();
  });
};

before(async () => {
  server = createServer((req, res) => {
    requests.push(req.url ?? '');
    const m = /^\/([\w-]+)\/plain_text\/(train|test)-00000-of-00001\.parquet$/.exec(req.url ?? '');
    if (!m) return void res.writeHead(404).end('not found');
    const split = m[2] as Split;
    (folders.get(m[1])?.[split] ?? sendBytes(good[split]))(req, res);
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  origin = `http://127.0.0.1:${(server.address() as { port: number }).port}`;
});
after(() => new Promise<void>((r) => {
  server.closeAllConnections();
  server.close(() => r());
}));

/** A base URL whose files answer as `handlers` says (the others: the good files). */
function folder(name: string, handlers: Partial<Record<Split, Handler>> = {}): string {
  folders.set(name, handlers);
  return `${origin}/${name}/`;
}
const load = (baseUrl: string, extra: Partial<Parameters<typeof loadHubParquet>[0]> = {}) =>
  loadHubParquet({ baseUrl, decode: nodeImageDecoder, counts: COUNTS, ...extra });
const fileUrl = (base: string, split: Split) => `${base}${HUB_CIFAR10_FILES[split]}`;

describe('hub parquet: a good pair', () => {
  test('loads both splits pixel for pixel, in file order, with progress in bytes and images', async () => {
    const base = folder('good');
    const progress: { done: number; total: number; what: string }[] = [];
    const data = await load(base, { onProgress: (done, total, what) => progress.push({ done, total, what }) });
    assert.equal(data.name, 'cifar10');
    assert.equal(data.source, base);
    for (const split of ['train', 'test'] as const) {
      const set = data[split];
      assert.equal(set.count, COUNTS[split]);
      assert.equal(set.size, 32);
      assert.deepEqual(set.classes, CIFAR10_CLASSES);
      assert.deepEqual([...set.labels], labels[split]);
      assert.ok(Buffer.from(set.images).equals(Buffer.from(source[split].images)), `${split}: the decoded pixels differ from the images written`);
    }
    // Both files together: bytes while either downloads, then images.
    const bytes = progress.filter((p) => p.what === 'bytes fetched');
    const images = progress.filter((p) => p.what === 'images decoded');
    const fileBytes = good.train.length + good.test.length;
    assert.ok(bytes.length > 0 && images.length > 0, 'progress in bytes and in images');
    assert.ok(bytes.some((p) => p.done === fileBytes && p.total === fileBytes), `bytes fetched reaches ${fileBytes} of ${fileBytes}`);
    assert.ok(progress.indexOf(images[0]) > progress.indexOf(bytes.at(-1)!), 'images decoded comes after the downloads');
    assert.deepEqual(images.at(-1), { done: COUNTS.train + COUNTS.test, total: COUNTS.train + COUNTS.test, what: 'images decoded' });
    assert.ok(images.every((p, i) => i === 0 || p.done >= images[i - 1].done), 'images decoded never goes down');
  });

  test('without counts, the Hub\'s 50,000 / 10,000 are required', async () => {
    const base = folder('good');
    // Whichever file arrives first is refused first.
    await rejectsWith(loadHubParquet({ baseUrl: base, decode: nodeImageDecoder }),
      /\/plain_text\/(train-00000-of-00001\.parquet: holds 300 images; CIFAR-10's train split has 50,000|test-00000-of-00001\.parquet: holds 120 images; CIFAR-10's test split has 10,000)/);
  });

  test('one decode at a time gives the same set', async () => {
    const data = await load(folder('good'), { concurrency: 1 });
    assert.ok(Buffer.from(data.train.images).equals(Buffer.from(source.train.images)));
  });

  test('a body without content-length loads too (progress of an unknown total)', async () => {
    const base = folder('chunked', { train: endsEarly(good.train, 1), test: endsEarly(good.test, 1) });
    const progress: number[] = [];
    const data = await load(base, { onProgress: (_done, total, what) => { if (what === 'bytes fetched') progress.push(total); } });
    assert.equal(data.train.count, COUNTS.train);
    assert.ok(progress.every((t) => t === 0), 'no total is made up');
  });

  test('the base URL: a trailing slash added; not a URL or not http(s) refused', () => {
    assert.equal(hubFolderUrl('http://mirror.example/cifar'), 'http://mirror.example/cifar/');
    assert.equal(hubFolderUrl(HUB_CIFAR10_BASE_URL), HUB_CIFAR10_BASE_URL);
    assert.throws(() => hubFolderUrl('mirror/cifar'), /"mirror\/cifar" is not a URL/);
    assert.throws(() => hubFolderUrl('ftp://mirror.example/'), /is not an http\(s\) URL/);
  });
});

describe('hub parquet: each failure its own message, naming the URL', () => {
  test('nothing answers: cannot fetch', async () => {
    const closed = createServer();
    await new Promise<void>((r) => closed.listen(0, '127.0.0.1', r));
    const port = (closed.address() as { port: number }).port;
    await new Promise<void>((r) => closed.close(() => r()));
    const base = `http://127.0.0.1:${port}/gone/`;
    await rejectsWith(load(base), `${base}plain_text/`, /cannot fetch \(.+\): the server did not answer/);
  });

  test('HTTP 404: no such file under this base URL', async () => {
    const base = folder('missing', { train: status(404) });
    await rejectsWith(load(base), fileUrl(base, 'train'), /HTTP 404.*no such file under this base URL/);
  });

  test('HTTP 503: the server answered 503', async () => {
    const base = folder('busy', { test: status(503) });
    await rejectsWith(load(base), fileUrl(base, 'test'), /the server answered HTTP 503/);
  });

  test('a connection cut mid-body: the download broke off', async () => {
    const base = folder('cut', { train: cutAt(good.train, 0.4) });
    await rejectsWith(load(base), fileUrl(base, 'train'), /the download (broke off after [\d,]+ of [\d,]+ bytes|was cut short)/);
  });

  test('a body that ends cleanly but short of its content-length: cut short', async () => {
    const base = folder('short', {
      test: (_req, res) => {
        // Announce the whole file, send part, and end the response as if complete (HTTP/1.0-style close).
        res.socket!.write(`HTTP/1.1 200 OK\r\ncontent-length: ${good.test.length}\r\nconnection: close\r\n\r\n`);
        res.socket!.end(Buffer.from(good.test.subarray(0, 3000)));
      },
    });
    await rejectsWith(load(base), fileUrl(base, 'test'), /the download (was cut short: 3,000 of|broke off after 3,000 of)/);
  });

  test('a truncated file that arrived "complete" (no content-length): truncated parquet file', async () => {
    const base = folder('truncated', { train: endsEarly(good.train, 0.7) });
    await rejectsWith(load(base), fileUrl(base, 'train'), /truncated parquet file: it starts as one, but its last bytes are not the footer/);
  });

  test('an HTML page where the file should be: not a parquet file', async () => {
    const page = new TextEncoder().encode('<!doctype html><html><body>Sign in</body></html>');
    const base = folder('html', { test: sendBytes(page, { 'content-type': 'text/html' }) });
    await rejectsWith(load(base), fileUrl(base, 'test'), /not a parquet file: it starts with 3c 21 64 6f.*an HTML page/);
  });

  test('another schema: no img column', async () => {
    const base = folder('other-schema', { train: sendBytes(otherSchemaParquet(pngs.train, labels.train)) });
    await rejectsWith(load(base), fileUrl(base, 'train'), /has no "img" column; its columns are image binary, fine_label string; expected img struct<bytes: binary, path: string> and label int64/);
  });

  test('another schema: img a plain binary column', async () => {
    const base = folder('img-binary', { train: sendBytes(wrongTypesParquet(pngs.train, labels.train, 'img')) });
    await rejectsWith(load(base), fileUrl(base, 'train'), /column img is binary; expected struct<bytes: binary, path: string>/);
  });

  test('another schema: label a string column', async () => {
    const base = folder('label-string', { test: sendBytes(wrongTypesParquet(pngs.test, labels.test, 'label')) });
    await rejectsWith(load(base), fileUrl(base, 'test'), /column label is string; expected int64 class numbers 0–9/);
  });

  test('other class names in the Hub metadata', async () => {
    const names = ['apple', 'aquarium_fish', 'baby', 'bear', 'beaver', 'bed', 'bee', 'beetle', 'bicycle', 'bottle'];
    const base = folder('cifar100-names', { test: sendBytes(hubParquet(pngs.test, labels.test, { labelNames: names })) });
    await rejectsWith(load(base), fileUrl(base, 'test'), /its label names are apple, aquarium_fish.*; CIFAR-10's are airplane, automobile/);
  });

  test('a label outside 0–9, with its row', async () => {
    const bad = [...labels.test];
    bad[77] = 10;
    const base = folder('label-10', { test: sendBytes(hubParquet(pngs.test, bad, { rowGroupSize: 50 })) });
    await rejectsWith(load(base), `${fileUrl(base, 'test')}: row 77: label 10 is outside 0–9`);
  });

  test('an image that is not 32×32, with its row', async () => {
    const files = [...pngs.test];
    files[61] = pngOf(new Uint8Array(3 * 16 * 16).fill(90), 16);
    const base = folder('small-image', { test: sendBytes(hubParquet(files, labels.test)) });
    await rejectsWith(load(base), `${fileUrl(base, 'test')}: row 61: the image is 16×16; CIFAR-10's are 32×32`);
  });

  test('img.bytes that are not an image, and empty img.bytes', async () => {
    const files = [...pngs.test];
    files[5] = new TextEncoder().encode('not an image at all');
    let base = folder('not-image', { test: sendBytes(hubParquet(files, labels.test)) });
    await rejectsWith(load(base), `${fileUrl(base, 'test')}: row 5: img.bytes is not a PNG or JPEG file`);
    files[5] = null as unknown as Uint8Array;
    base = folder('no-bytes', { test: sendBytes(hubParquet(files, labels.test)) });
    await rejectsWith(load(base), `${fileUrl(base, 'test')}: row 5: img.bytes is empty`);
  });

  test('a file with the wrong count of rows', async () => {
    const base = folder('short-split', { train: sendBytes(hubParquet(pngs.train.slice(0, 250), labels.train.slice(0, 250))) });
    await rejectsWith(load(base), fileUrl(base, 'train'), /holds 250 images; CIFAR-10's train split has 300/);
  });

  test('a failure of one split aborts the other\'s download', async () => {
    slowClosedAt = undefined;
    const base = folder('abort', { train: slow(good.train), test: status(404) });
    const t0 = Date.now();
    await rejectsWith(load(base), fileUrl(base, 'test'), /HTTP 404/);
    await new Promise((r) => setTimeout(r, 500));
    assert.ok(slowClosedAt !== undefined && slowClosedAt - t0 < 5000, 'the slow training download was not aborted');
  });
});

describe('the PNG decoder the page uses for the Hub\'s images (src/data/png-decode.ts)', () => {
  const side = 32;
  /** A 32×32 RGBA image with gradients, noise and a hard edge, so every filter has work. */
  const rgba = new Uint8Array(4 * side * side).map((_, i) => {
    const p = i >> 2;
    const [x, y, c] = [p % side, Math.floor(p / side), i & 3];
    return c === 3 ? (x * 8 + y) & 255 : ((x * (c + 3) + y * (5 - c) + ((p * 2654435761) >>> 27)) + (x > 20 ? 90 : 0)) & 255;
  });
  const encode = (colorType: 0 | 2 | 4 | 6, filterType: number, width = side, height = side) => {
    const png = new PNG({ width, height, colorType, filterType } as ConstructorParameters<typeof PNG>[0]);
    for (let p = 0; p < width * height; p++) png.data.set(rgba.subarray(4 * p, 4 * p + 4), 4 * p);
    return new Uint8Array(PNG.sync.write(png, { colorType, filterType } as Parameters<typeof PNG.sync.write>[1]));
  };
  /** A PNG file of chunks made by hand (CRCs left zero: neither decoder under test needs them). */
  const handMade = (ihdr: { width: number; height: number; depth: number; colourType: number; interlace?: number }, rows: Uint8Array, extra: [string, Uint8Array][] = []) => {
    const chunk = (type: string, data: Uint8Array) => {
      const out = new Uint8Array(12 + data.length);
      new DataView(out.buffer).setUint32(0, data.length);
      out.set(new TextEncoder().encode(type), 4);
      out.set(data, 8);
      return out;
    };
    const head = new Uint8Array(13);
    const v = new DataView(head.buffer);
    v.setUint32(0, ihdr.width);
    v.setUint32(4, ihdr.height);
    head.set([ihdr.depth, ihdr.colourType, 0, 0, ihdr.interlace ?? 0], 8);
    const parts = [new Uint8Array([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]), chunk('IHDR', head), ...extra.map(([t, d]) => chunk(t, d)),
      chunk('IDAT', new Uint8Array(deflateSync(rows))), chunk('IEND', new Uint8Array(0))];
    return new Uint8Array(Buffer.concat(parts));
  };

  test('grey, grey + alpha, RGB and RGBA under every row filter decode as pngjs decodes them', () => {
    for (const colorType of [0, 2, 4, 6] as const) {
      for (const filterType of [0, 1, 2, 3, 4, -1]) {
        for (const [w, h] of [[side, side], [7, 5]]) {
          const file = encode(colorType, filterType, w, h);
          const ours = decodePng(file, 'test.png');
          const reference = nodeImageDecoder(file, 'png', 'test.png') as DecodedImage;
          assert.ok(ours, `colour type ${colorType} decoded`);
          assert.deepEqual([ours.width, ours.height], [w, h]);
          assert.ok(Buffer.from(ours.chw).equals(Buffer.from(reference.chw)), `colour type ${colorType}, filter ${filterType}, ${w}×${h}: pixels differ from pngjs`);
        }
      }
    }
  });

  test('a palette image, its IDAT split in two chunks', () => {
    const palette = new Uint8Array([10, 20, 30, 200, 100, 50, 0, 255, 128]);
    const rows = new Uint8Array(2 * 4);
    rows.set([0, 0, 1, 2], 0); // filter 0, indices 0 1 2
    rows.set([2, 2, 1, 0], 4); // filter 2 (up): 0+2, 1+1, 2+0 → 2 2 2
    const file = handMade({ width: 3, height: 2, depth: 8, colourType: 3 }, rows, [['PLTE', palette]]);
    const img = decodePng(file, 'palette.png')!;
    assert.deepEqual([...img.chw], [10, 200, 0, 0, 0, 0, 20, 100, 255, 255, 255, 255, 30, 50, 128, 128, 128, 128]);
    const split = Buffer.from(file);
    const idatAt = split.indexOf('IDAT') - 4;
    const length = split.readUInt32BE(idatAt);
    const data = split.subarray(idatAt + 8, idatAt + 8 + length);
    const half = Math.floor(length / 2);
    const two = (d: Uint8Array, type = 'IDAT') => {
      const c = Buffer.alloc(12 + d.length);
      c.writeUInt32BE(d.length, 0);
      c.write(type, 4);
      Buffer.from(d).copy(c, 8);
      return c;
    };
    const rebuilt = Buffer.concat([split.subarray(0, idatAt), two(data.subarray(0, half)), two(data.subarray(half)), split.subarray(idatAt + 12 + length)]);
    assert.deepEqual([...decodePng(new Uint8Array(rebuilt), 'palette-split.png')!.chw], [...img.chw]);
  });

  test('16-bit and interlaced PNGs go to the fallback decoder; damaged ones are errors', async () => {
    const calls: string[] = [];
    const fallback: ImageDecoder = (_bytes, _kind, where) => {
      calls.push(where);
      return { width: 1, height: 1, chw: new Uint8Array(3) };
    };
    const decode = withPngDecoder(fallback);
    const sixteen = handMade({ width: 1, height: 1, depth: 16, colourType: 2 }, new Uint8Array(7));
    const interlaced = handMade({ width: 1, height: 1, depth: 8, colourType: 2, interlace: 1 }, new Uint8Array(4));
    await decode(sixteen, 'png', '16-bit.png');
    await decode(interlaced, 'png', 'interlaced.png');
    await decode(encode(2, 0), 'png', 'plain.png');
    assert.deepEqual(calls, ['16-bit.png', 'interlaced.png']);

    const good = encode(2, 4);
    assert.throws(() => decodePng(good.subarray(0, good.length - 30), 'cut.png'), /cut\.png: cannot decode PNG \(.*truncated/);
    const damaged = Buffer.from(good);
    const idat = damaged.indexOf('IDAT');
    damaged.fill(0xee, idat + 10, idat + 40);
    assert.throws(() => decodePng(new Uint8Array(damaged), 'damaged.png'), /damaged\.png: cannot decode PNG/);
    assert.throws(() => decodePng(new TextEncoder().encode('GIF89a........'), 'gif.png'), /gif\.png: not a PNG file/);
  });

  test('the Hub loader with the PNG decoder in front of pngjs gives the same set', async () => {
    const data = await load(folder('good'), { decode: withPngDecoder(() => { throw new Error('fallback used for an 8-bit RGB PNG'); }) });
    assert.ok(Buffer.from(data.train.images).equals(Buffer.from(source.train.images)));
    assert.ok(Buffer.from(data.test.images).equals(Buffer.from(source.test.images)));
  });
});
