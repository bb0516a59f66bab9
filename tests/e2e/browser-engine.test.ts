/**
 * The engine in a real browser: headless Chromium (Debian's /usr/bin/chromium through
 * playwright-core) with WebGPU, against the same engine in Node (Dawn).
 *   1. fixedRun in the page (esbuild bundle of tests/e2e/engine-page.ts) equals fixedRun in Node,
 *      and the page's image decoder (createImageBitmap) reads a PNG exactly and a JPEG as jpeg-js does.
 *   2. The `vite build` output, served from a nested path, shows the adapter and trains in its
 *      worker to the same losses; screenshot in test-results/playground.png.
 *   3. Without --enable-unsafe-webgpu the page explains why there is no WebGPU instead of going blank.
 * Run: node --import ./scripts/register.mjs --test tests/e2e/browser-engine.test.ts
 * Chromium missing: skipped locally, a failure under CI=true. CHROMIUM_PATH overrides the path.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import { tmpdir } from 'node:os';
import { extname, join, normalize, resolve } from 'node:path';
import { after, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';
import { encode as encodeJpeg } from 'jpeg-js';
import { type BrowserContext, chromium, type Page } from 'playwright-core';
import { PNG } from 'pngjs';
import { nodeImageDecoder } from '../../src/data/imagefolder.ts';
import { adapterName, type AdapterReport } from '../../src/gpu/device.ts';
import { openNodeGpu } from '../../src/gpu/node.ts';
import { fixedRun } from '../../src/train/fixed-run.ts';

const ROOT = resolve(fileURLToPath(new URL('../..', import.meta.url)));
const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';
const HAVE_CHROMIUM = existsSync(CHROMIUM);
const CI = !!process.env.CI && process.env.CI !== 'false';
const skip = !HAVE_CHROMIUM && !CI ? `no Chromium at ${CHROMIUM} (apt-get install chromium); under CI=true this fails` : false;
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

/** Offline, quiet, fresh profile. --disable-gpu is not needed (and not wanted on a real GPU). */
const BASE_ARGS = ['--no-sandbox', '--disable-background-networking', '--disable-component-update', '--disable-sync',
  '--no-first-run', '--disable-quic', '--disable-dev-shm-usage'];
const WEBGPU_ARGS = ['--enable-unsafe-webgpu'];

const cleanups: (() => Promise<void> | void)[] = [];
after(async () => {
  for (const c of cleanups.reverse()) await c();
});

function tempDir(prefix: string): string {
  const d = mkdtempSync(join(tmpdir(), prefix));
  cleanups.push(() => rmSync(d, { recursive: true, force: true }));
  return d;
}

const TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8', '.js': 'text/javascript', '.mjs': 'text/javascript', '.css': 'text/css',
  '.json': 'application/json', '.png': 'image/png', '.svg': 'image/svg+xml', '.wasm': 'application/wasm', '.ico': 'image/x-icon',
};

/** Serves `dir` at http://127.0.0.1:<ephemeral>/<mount>/ (a secure context, so navigator.gpu exists). */
async function serve(dir: string, mount = '/'): Promise<string> {
  const server: Server = createServer((req, res) => {
    const path = decodeURIComponent(new URL(req.url ?? '/', 'http://x').pathname);
    let file = path.startsWith(mount) ? normalize(join(dir, path.slice(mount.length))) : '';
    if (file && existsSync(file) && statSync(file).isDirectory()) file = join(file, 'index.html');
    if (!file || !file.startsWith(dir) || !existsSync(file)) { res.writeHead(404).end('not found'); return; }
    res.writeHead(200, { 'content-type': TYPES[extname(file)] ?? 'application/octet-stream', 'cache-control': 'no-store' });
    res.end(readFileSync(file));
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  cleanups.push(() => new Promise<void>((r) => server.close(() => r())));
  const { port } = server.address() as { port: number };
  return `http://127.0.0.1:${port}${mount}`;
}

async function launch(webgpu: boolean): Promise<BrowserContext> {
  if (!HAVE_CHROMIUM) throw new Error(`Chromium not found at ${CHROMIUM} (CI=true: failing instead of skipping)`);
  const context = await chromium.launchPersistentContext(tempDir('labelflow-chromium-'), {
    executablePath: CHROMIUM, headless: true, args: [...BASE_ARGS, ...(webgpu ? WEBGPU_ARGS : [])], viewport: { width: 900, height: 900 },
  });
  cleanups.push(() => context.close());
  return context;
}

/** Page errors and console errors, for assertion messages. */
function watch(page: Page): string[] {
  const log: string[] = [];
  page.on('pageerror', (e) => log.push(`pageerror: ${e.message}`));
  page.on('console', (m) => { if (m.type() === 'error') log.push(`console: ${m.text()}`); });
  return log;
}

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

let distDir: string | undefined;
/** `vite build` of the playground into a temp dir, once. */
function viteBuild(): string {
  if (distDir) return distDir;
  const out = tempDir('labelflow-dist-');
  const t0 = Date.now();
  const r = spawnSync(process.execPath, [join(ROOT, 'node_modules/vite/bin/vite.js'), 'build', '--outDir', out, '--emptyOutDir', '--logLevel', 'warn'],
    { cwd: ROOT, encoding: 'utf8', env: { ...process.env, NODE_OPTIONS: '' } });
  assert.equal(r.status, 0, `vite build failed:\n${r.stdout}\n${r.stderr}`);
  console.log(`vite build: ${Date.now() - t0} ms`);
  return (distDir = out);
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

test('vite build: the playground shows the adapter and trains in its worker', { skip, timeout: 180_000 }, async () => {
  // A nested mount: base './' must make the build work from any path.
  const url = await serve(viteBuild(), '/some/nested/path/');
  const page = await (await launch(true)).newPage();
  const log = watch(page);
  await page.goto(url);
  const adapter = page.getByTestId('adapter');
  await adapter.waitFor({ timeout: 60_000 }).catch(() => undefined);
  const text = (await page.textContent('body')) ?? '';
  assert.ok(await adapter.isVisible(), `no adapter panel; page says: ${text.slice(0, 500)}\n${log.join('\n')}`);
  assert.match((await adapter.textContent()) ?? '', /WebGPU adapter\s*\S+/);
  assert.match(text, /test — [\d,]+ parameters/);

  await page.selectOption('select[name=preset]', RUN.preset);
  await page.fill('input[name=steps]', String(RUN.steps));
  await page.fill('input[name=batch]', String(RUN.batch));
  await page.fill('input[name=seed]', String(RUN.seed));
  await page.getByRole('button', { name: 'Train' }).click();
  const readout = page.getByTestId('readout');
  await page.waitForFunction(() => ['done', 'error'].includes(document.querySelector('[data-testid=readout]')?.getAttribute('data-state') ?? ''),
    null, { timeout: 150_000 });
  assert.equal(await readout.getAttribute('data-state'), 'done', `training did not finish: ${await page.textContent('body')}\n${log.join('\n')}`);
  mkdirSync(join(ROOT, 'test-results'), { recursive: true });
  await page.screenshot({ path: join(ROOT, 'test-results/playground.png'), fullPage: true });
  const losses = JSON.parse((await page.getByTestId('loss-chart').getAttribute('data-losses')) ?? '[]') as number[];
  console.log(`playground readout: ${await readout.textContent()}`);
  console.log(`losses playground: ${losses.join(', ')}`);
  assertClose(losses, (await runInNode()).losses, 'playground worker');
  assert.deepEqual(log, []);
});

test('without --enable-unsafe-webgpu the playground explains the missing WebGPU', { skip, timeout: 120_000 }, async () => {
  const url = await serve(viteBuild(), '/');
  const page = await (await launch(false)).newPage();
  await page.goto(url);
  const message = page.getByTestId('no-webgpu');
  await message.waitFor({ timeout: 60_000 }).catch(() => undefined);
  const text = (await page.textContent('body')) ?? '';
  assert.ok(await message.isVisible(), `no explanation shown; page says: ${text.slice(0, 500)}`);
  assert.match(text, /Chrome and Edge 113\+/);
  assert.match(text, /--enable-unsafe-webgpu/);
  mkdirSync(join(ROOT, 'test-results'), { recursive: true });
  await page.screenshot({ path: join(ROOT, 'test-results/playground-no-webgpu.png'), fullPage: true });
});
