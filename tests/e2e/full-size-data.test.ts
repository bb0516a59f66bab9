/**
 * The page with full-size CIFAR-10 (issue 15), through its own controls, in headless Chromium
 * (WebGPU on SwiftShader), the `test` model at batch 8 so that "trainable" is the first loss
 * read-out (5 steps):
 *   (a) the official binary tarball's layout, 50,000 + 10,000 records (built at test time by
 *       ./full-size-archives.ts, cached in .cache/test-data/), picked: Train is disabled while it
 *       loads, with the reason; then Train → a loss read-out, no error;
 *   (b) after a reload, the same dataset from the cache: Train → a loss read-out;
 *   (c) `npm run data` output of that tarball served as the page's data/cifar10/: Train → a loss
 *       read-out; reload, Train again → from the cache;
 *   (d) the full JPEG ImageFolder archive (60,000 images), picked, with Train asked for while it
 *       loads (the worker waits for the load): its load time and time to the first loss.
 * Time-to-trainable is from the pick (or from Train, for a dataset the run itself loads: (b), (c))
 * to the dataset being in the worker, decoded and ready: the dataset panel shows its 50,000 +
 * 10,000 images and Train is enabled (or the run goes on to its first step). It is recorded with
 * recordFigure (test-results/page-figures.json) and the targets are asserted: 15 s for the
 * binary tarball (and the prepared files), 40 s for the JPEG archive, 5 s from the cache. The
 * first loss read-out comes later by the adapter's warm-up (shader compilation and 5 steps), the
 * same for any dataset: a first test times it alone on a 512-image synthetic run, and every
 * figure's detail gives its own time to the first loss beside it.
 * Run: node scripts/run-tests.mjs tests/e2e/full-size-data.test.ts
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, rmSync } from 'node:fs';
import { basename, join } from 'node:path';
import { before, describe, test } from 'node:test';
import { type Page } from 'playwright-core';
import { fullSizeBinaryTarball, JPEG_ARCHIVE } from './full-size-archives.ts';
import { CI, launch, recordFigure, ROOT, serve, skip, viteBuild, waitFor, watch } from './helpers.ts';

/** A dataset error fails a wait as a run error does. */
const PAGE_ERRORS = ['error', 'dataset-error'];

const TARGET_S = { binary: 15, jpeg: 40, cached: 5 };
/** The test model, a small batch: the first loss read-out comes after 5 steps. */
const RUN = 'model=test&method=none&batch=8&epochs=1&warmup=0&lr=0.001';
const COMMAND = 'tests/e2e/full-size-data.test.ts';

const seconds = (ms: number) => Math.round(ms / 100) / 10;

const losses = async (page: Page) => ((await page.getByTestId('readout').getAttribute('data-losses')) ?? '').split(',').filter(Boolean).map(Number);

/**
 * Waits for the first loss read-out (a finite number) and returns when it came (Date.now()), and
 * when the dataset panel first showed the full-size CIFAR-10 (50,000 + 10,000): both are watched
 * together, since a run that loads its dataset shows the summary on its way to the first loss.
 */
async function untilTrainable(page: Page, log: string[], timeoutMs = 300_000): Promise<{ loaded: number; trainable: number }> {
  const summary = page.getByTestId('dataset-summary');
  let loaded: number | undefined;
  await waitFor(page, 'the dataset summary and the first loss read-out', async () => {
    if (loaded === undefined && (await summary.count()) > 0 && (await summary.getAttribute('data-train')) === '50000') {
      loaded = Date.now();
      assert.equal(await summary.getAttribute('data-test'), '10000', (await summary.textContent()) ?? '');
    }
    return (await losses(page)).length > 0;
  }, timeoutMs, log, PAGE_ERRORS);
  const trainable = Date.now();
  assert.ok(loaded !== undefined, `the first loss came before the dataset panel showed 50,000 + 10,000 images: ${await summary.textContent().catch(() => '(no summary)')}`);
  const [loss] = await losses(page);
  assert.ok(Number.isFinite(loss) && loss > 0, `the first loss read-out is ${loss}`);
  return { loaded, trainable };
}

async function pauseRun(page: Page, log: string[]) {
  await page.getByRole('button', { name: 'Pause' }).click();
  await waitFor(page, 'the run to pause', async () => (await page.getByTestId('readout').getAttribute('data-state')) === 'paused', 60_000, log, PAGE_ERRORS);
}

/** Train is disabled while a dataset loads, and says so ("loading <file>: …"). */
async function assertTrainBlockedWhileLoading(page: Page, file: string) {
  const train = page.getByRole('button', { name: 'Train' });
  await page.getByTestId('train-blocked').waitFor({ timeout: 10_000 });
  assert.ok(await train.isDisabled(), 'Train is enabled while the dataset loads');
  const reason = (await page.getByTestId('train-blocked').textContent()) ?? '';
  assert.match(reason, new RegExp(`loading ${basename(file).replace(/\./g, '\\.')}: `), `the reason shown: ${reason}`);
  return reason;
}

/** The dataset panel says the dataset came from browser storage. */
async function assertFromCache(page: Page) {
  const status = page.getByTestId('dataset-cache');
  assert.equal(await status.getAttribute('data-from-cache'), 'true', `not read from the cache: ${await status.textContent().catch(() => '(no cache note)')}`);
}

async function adapterOf(page: Page): Promise<string> {
  return ((await page.getByTestId('adapter').locator('b').textContent()) ?? '').trim();
}

function figure(id: string, label: string, ms: number, targetS: number, adapter: string, detail: string, gpuWarmUpS?: number) {
  const value = seconds(ms);
  const pass = value <= targetS;
  const warmUp = gpuWarmUpS === undefined ? '' : `; the adapter's warm-up alone (a 512-image synthetic run, Train → first loss) ${gpuWarmUpS} s`;
  recordFigure(id, { label, value, unit: 's', target: `≤ ${targetS} s`, pass, adapter, command: COMMAND, detail: detail + warmUp });
  return { value, pass };
}

function checkTarget(what: string, r: { value: number; pass: boolean }, targetS: number) {
  assert.ok(r.pass, `${what}: ${r.value} s, the target is ≤ ${targetS} s`);
}

/** Waits until the dataset cache has been written (the write may go on after training starts). */
async function cacheWritten(page: Page, log: string[]) {
  const status = page.getByTestId('dataset-cache');
  await waitFor(page, 'the dataset cache to be written', async () => (await status.count()) > 0 && (await status.getAttribute('data-stored')) !== null, 120_000, log, PAGE_ERRORS);
  assert.equal(await status.getAttribute('data-stored'), 'true', `the dataset was not cached: ${await status.textContent()}`);
}

describe('full-size CIFAR-10 in the page', { skip }, () => {
  let url: string;
  let dist: string;
  let tarball: string;
  let page: Page;
  let log: string[];
  let adapter: string;
  let gpuWarmUpS: number | undefined;

  before(async () => {
    tarball = await fullSizeBinaryTarball();
    dist = viteBuild();
    url = await serve(dist, '/');
    page = await (await launch(true)).newPage();
    log = watch(page);
  }, { timeout: 600_000 });

  test('GPU warm-up alone: a 512-image synthetic run, Train → first loss', { timeout: 300_000 }, async () => {
    await page.goto(`${url}?dataset=synthetic&train=512&test=128&${RUN}`);
    await page.getByTestId('adapter').waitFor({ timeout: 60_000 });
    adapter = await adapterOf(page);
    const t0 = Date.now();
    await page.getByRole('button', { name: 'Train' }).click();
    await waitFor(page, 'the first loss read-out', async () => (await losses(page)).length > 0, 300_000, log, PAGE_ERRORS);
    gpuWarmUpS = seconds(Date.now() - t0);
    // Not a target: what the adapter needs before any first loss (shader compilation, 5 steps), to read the figures below by.
    console.log(`GPU warm-up on ${adapter}: a 512-image synthetic run's first loss ${gpuWarmUpS} s after Train`);
    recordFigure('gpu-warm-up', { label: 'the adapter\'s warm-up alone: a 512-image synthetic run, Train → first loss (no target; in every time to a first loss)', value: gpuWarmUpS, unit: 's', adapter, command: COMMAND });
    await pauseRun(page, log);
  });

  test('(a) the official binary tarball, 50,000 + 10,000 records: picked, Train → loss', { timeout: 300_000 }, async () => {
    await page.goto(`${url}?dataset=file&${RUN}`);
    await page.getByTestId('adapter').waitFor({ timeout: 60_000 });
    adapter = await adapterOf(page);
    const t0 = Date.now();
    await page.setInputFiles('input[name=archive]', tarball);
    const reason = await assertTrainBlockedWhileLoading(page, tarball);
    const summary = page.getByTestId('dataset-summary');
    await waitFor(page, 'the archive to load', async () => (await summary.count()) > 0 && page.getByRole('button', { name: 'Train' }).isEnabled(), 300_000, log, PAGE_ERRORS);
    const loaded = Date.now();
    assert.deepEqual([await summary.getAttribute('data-train'), await summary.getAttribute('data-test')], ['50000', '10000'], (await summary.textContent()) ?? '');
    await page.getByRole('button', { name: 'Train' }).click();
    const { trainable } = await untilTrainable(page, log);
    console.log(`(a) ${basename(tarball)}: Train blocked while loading ("${reason}"); dataset loaded ${seconds(loaded - t0)} s, first loss ${seconds(trainable - t0)} s after the pick`);
    const r = figure('load-binary-tarball', 'official binary tarball (50,000 + 10,000), pick → trainable', loaded - t0, TARGET_S.binary, adapter,
      `first loss ${seconds(trainable - t0)} s after the pick (test model, batch 8)`, gpuWarmUpS);
    await pauseRun(page, log);
    await cacheWritten(page, log);
    checkTarget('the official binary tarball, pick → trainable', r, TARGET_S.binary);
  });

  test('(b) after a reload, the same dataset from the cache: Train → loss', { timeout: 180_000 }, async () => {
    await page.reload();
    await page.getByTestId('adapter').waitFor({ timeout: 60_000 });
    const t0 = Date.now();
    await page.getByRole('button', { name: 'Train' }).click();
    const { loaded, trainable } = await untilTrainable(page, log);
    await assertFromCache(page);
    console.log(`(b) cached tarball: dataset loaded ${seconds(loaded - t0)} s, first loss ${seconds(trainable - t0)} s after Train`);
    const r = figure('load-binary-tarball-cached', 'official binary tarball from the cache (second visit), Train → trainable', loaded - t0, TARGET_S.cached, adapter,
      `first loss ${seconds(trainable - t0)} s after Train`, gpuWarmUpS);
    await pauseRun(page, log);
    checkTarget('the cached binary tarball, Train → trainable', r, TARGET_S.cached);
  });

  test('(c) npm run data output as the page\'s data/cifar10/: Train → loss; reload → from the cache', { timeout: 420_000 }, async () => {
    const out = join(dist, 'data', 'cifar10');
    rmSync(out, { recursive: true, force: true });
    mkdirSync(out, { recursive: true });
    const t = Date.now();
    const r = spawnSync(process.execPath, [join(ROOT, 'scripts/node-ts.mjs'), join(ROOT, 'src/cli/data.ts'), '--from', tarball, '--out', out], { cwd: ROOT, encoding: 'utf8' });
    assert.equal(r.status, 0, `npm run data failed:\n${r.stdout}\n${r.stderr}`);
    assert.ok(existsSync(join(out, 'manifest.json')) && existsSync(join(out, 'train.bin')), `npm run data wrote no dataset in ${out}:\n${r.stdout}`);
    console.log(`npm run data -- --from ${basename(tarball)}: ${seconds(Date.now() - t)} s\n${r.stdout.trim()}`);

    await page.goto(`${url}?dataset=cifar10&${RUN}`);
    await page.getByTestId('adapter').waitFor({ timeout: 60_000 });
    let t0 = Date.now();
    await page.getByRole('button', { name: 'Train' }).click();
    let { loaded, trainable } = await untilTrainable(page, log);
    console.log(`(c) npm run data output: dataset loaded ${seconds(loaded - t0)} s, first loss ${seconds(trainable - t0)} s after Train`);
    // The 15 s is stated for the tarball; the prepared files need less work (no gunzip, no parsing).
    const fetched = figure('load-npm-run-data', '`npm run data` output (50,000 + 10,000), Train → trainable', loaded - t0, TARGET_S.binary, adapter,
      `first loss ${seconds(trainable - t0)} s after Train`, gpuWarmUpS);
    await pauseRun(page, log);
    await cacheWritten(page, log);

    await page.reload();
    await page.getByTestId('adapter').waitFor({ timeout: 60_000 });
    t0 = Date.now();
    await page.getByRole('button', { name: 'Train' }).click();
    ({ loaded, trainable } = await untilTrainable(page, log));
    await assertFromCache(page);
    console.log(`(c) npm run data output from the cache: dataset loaded ${seconds(loaded - t0)} s, first loss ${seconds(trainable - t0)} s after Train`);
    const cached = figure('load-npm-run-data-cached', '`npm run data` output from the cache (second visit), Train → trainable', loaded - t0, TARGET_S.cached, adapter,
      `first loss ${seconds(trainable - t0)} s after Train`, gpuWarmUpS);
    await pauseRun(page, log);
    checkTarget('npm run data output, Train → trainable', fetched, TARGET_S.binary);
    checkTarget('npm run data output from the cache, Train → trainable', cached, TARGET_S.cached);
  });

  test('(d) the full JPEG ImageFolder archive (60,000 images): load time in the page', { timeout: 420_000, skip: !existsSync(JPEG_ARCHIVE) && !CI && `no ${JPEG_ARCHIVE}` }, async () => {
    await page.goto(`${url}?dataset=file&${RUN}`);
    await page.getByTestId('adapter').waitFor({ timeout: 60_000 });
    const t0 = Date.now();
    await page.setInputFiles('input[name=archive]', JPEG_ARCHIVE);
    await assertTrainBlockedWhileLoading(page, JPEG_ARCHIVE);
    // Train asked for while the archive loads (the store's action, as the disabled button cannot):
    // the worker waits for the load instead of saying that no archive was picked.
    await page.evaluate(() => (globalThis as unknown as { labelflow: { getState(): { train(): void } } }).labelflow.getState().train());
    const { loaded, trainable } = await untilTrainable(page, log);
    console.log(`(d) ${basename(JPEG_ARCHIVE)}: dataset loaded ${seconds(loaded - t0)} s, first loss ${seconds(trainable - t0)} s after the pick`);
    const r = figure('load-jpeg-imagefolder', 'ImageFolder JPEG archive (60,000 images), pick → trainable (its full load time)', loaded - t0, TARGET_S.jpeg, adapter,
      `first loss ${seconds(trainable - t0)} s after the pick; Train asked for during the load`, gpuWarmUpS);
    await pauseRun(page, log);
    assert.deepEqual(log, []);
    checkTarget('the JPEG ImageFolder archive, pick → trainable', r, TARGET_S.jpeg);
  });
});
