/**
 * The engine in a real browser: headless Chromium (Debian's /usr/bin/chromium through
 * playwright-core) with WebGPU, against the same engine in Node (Dawn).
 *   1. fixedRun in the page (esbuild bundle of tests/e2e/engine-page.ts) equals fixedRun in Node,
 *      and the page's image decoder (createImageBitmap) reads a PNG exactly and a JPEG as jpeg-js does.
 * The playground page itself is tested in ./playground.test.ts.
 * Run: node --import ./scripts/register.mjs --test tests/e2e/browser-engine.test.ts
 * Chromium missing: skipped locally, a failure under CI=true. CHROMIUM_PATH overrides the path.
 */
import assert from 'node:assert/strict';
import { copyFileSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { build } from 'esbuild';
import { encode as encodeJpeg } from 'jpeg-js';
import { PNG } from 'pngjs';
import { nodeImageDecoder } from '../../src/data/imagefolder.ts';
import { adapterName, type AdapterReport } from '../../src/gpu/device.ts';
import { openNodeGpu } from '../../src/gpu/node.ts';
import { fixedRun } from '../../src/train/fixed-run.ts';
import { launch, ROOT, serve, skip, tempDir, watch } from './helpers.ts';

const RUN = { preset: 'test', seed: 0, steps: 4, batch: 8 } as const;

/** A 32×32 test picture (smooth gradients and a bright square) as RGBA and as CHW planes. */
function samplePixels(): { rgba: Uint8Array; chw: Uint8Array } {
  const rgba = new Uint8Array(32 * 32 * 4);
  const chw = new Uint8Array(3 * 32 * 32);
  for (let y = 0; y < 32; y++) {
    for (let x = 0; x < 32; x++) {
      const inSquare = x >= 10 && x < 20 && y >= 12 && y < 24;
      const rgb = inSquare ? [240, 220, 40] : [8 * x, 8 * y, 128];
      const p = y * 32 + x;
      rgba.set([...rgb, 255], 4 * p);
      rgb.forEach((v, c) => { chw[c * 1024 + p] = v; });
    }
  }
  return { rgba, chw };
}
const REL_TOL = 1e-4;

let nodeRun: Promise<{ losses: number[]; adapter: AdapterReport }> | undefined;
/** fixedRun in this process on Dawn, once for all tests. */
function runInNode() {
  nodeRun ??= (async () => {
    const gpu = await openNodeGpu();
    const r = await fixedRun(gpu, RUN);
    assert.deepEqual(gpu.errors, []);
    gpu.device.destroy();
    return { losses: r.losses, adapter: gpu.adapter };
  })();
  return nodeRun;
}

function assertClose(browser: number[], node: number[], what: string) {
  assert.equal(browser.length, node.length, `${what}: ${browser.length} losses vs ${node.length}`);
  browser.forEach((b, i) => {
    const rel = Math.abs(b - node[i]) / Math.max(Math.abs(node[i]), 1e-12);
    assert.ok(Number.isFinite(b) && rel <= REL_TOL, `${what}: step ${i + 1} loss ${b} (browser) vs ${node[i]} (node), relative difference ${rel.toExponential(2)} > ${REL_TOL}`);
  });
}

test('fixedRun in Chromium (WebGPU) matches fixedRun in Node (Dawn)', { skip, timeout: 180_000 }, async () => {
  const dir = tempDir('labelflow-engine-');
  await build({
    entryPoints: [join(ROOT, 'tests/e2e/engine-page.ts')], outfile: join(dir, 'engine.js'), bundle: true, format: 'esm',
    target: 'es2022', platform: 'browser', loader: { '.wgsl': 'text' }, logLevel: 'warning',
  });
  copyFileSync(join(ROOT, 'tests/e2e/engine.html'), join(dir, 'engine.html'));
  const sample = samplePixels();
  writeFileSync(join(dir, 'sample.jpg'), encodeJpeg({ data: sample.rgba, width: 32, height: 32 }, 90).data);
  writeFileSync(join(dir, 'sample.png'), PNG.sync.write(Object.assign(new PNG({ width: 32, height: 32 }), { data: Buffer.from(sample.rgba) })));
  const url = await serve(dir);
  const t0 = Date.now();
  const page = await (await launch(true)).newPage();
  const log = watch(page);
  await page.goto(`${url}engine.html`);
  await page.waitForFunction(() => window.__result || window.__error, null, { timeout: 150_000 });
  const error = await page.evaluate(() => window.__error);
  assert.equal(error, undefined, `${error}\n${log.join('\n')}`);
  const browser = (await page.evaluate(() => window.__result))!;
  console.log(`chromium: ${Date.now() - t0} ms (run ${browser.ms.toFixed(0)} ms) on ${adapterName(browser.adapter as AdapterReport)}`);

  const t1 = Date.now();
  const node = await runInNode();
  console.log(`node: ${Date.now() - t1} ms on ${adapterName(node.adapter)}`);
  console.log(`losses chromium: ${browser.losses.join(', ')}`);
  console.log(`losses node:     ${node.losses.join(', ')}`);
  console.log(`max relative difference: ${Math.max(...browser.losses.map((b, i) => Math.abs(b - node.losses[i]) / Math.abs(node.losses[i]))).toExponential(2)}`);
  assertClose(browser.losses, node.losses, 'fixedRun');

  // The page decodes images with the browser's decoder: PNG exactly, JPEG within decoder rounding.
  const decoded = (await page.evaluate(() => window.__decoded))!;
  assert.deepEqual(decoded.png, [...sample.chw], 'PNG pixels decoded in the page');
  const nodeJpeg = (await nodeImageDecoder(new Uint8Array(readFileSync(join(dir, 'sample.jpg'))), 'jpeg', 'sample.jpg')).chw;
  const meanDiff = decoded.jpeg.reduce((s, v, i) => s + Math.abs(v - nodeJpeg[i]), 0) / nodeJpeg.length;
  console.log(`JPEG: Chromium vs jpeg-js mean |difference| ${meanDiff.toFixed(2)} grey levels`);
  assert.equal(decoded.jpeg.length, 3 * 32 * 32);
  assert.ok(meanDiff < 3, `JPEG decoded in the page differs from jpeg-js by ${meanDiff} on average`);
  assert.match(decoded.notImage, /^x\.tar\.gz: test\/cat\/1\.jpg: cannot decode JPEG/);
  assert.ok(node.losses.at(-1)! < node.losses[0], `loss did not fall: ${node.losses.join(', ')}`);
});
