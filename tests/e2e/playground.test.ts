/**
 * The playground page (the `vite build` output, served from a nested path by a plain static
 * server) in headless Chromium with WebGPU on SwiftShader, driven like a user would:
 *   - synthetic data, the `test` model and TL-Align picked in the controls, Train: the loss falls
 *     within a fixed step budget and the batch, token-fluctuation and attention canvases are drawn
 *     (pixel checks); screenshot in test-results/playground.png;
 *   - Pause takes effect within 1 s (measured in the page, printed);
 *   - after a reload the run is listed and resumes from its checkpoint;
 *   - a lost GPU device is reported and the run goes on from its checkpoint on a new device;
 *   - a URL with a configuration reproduces it in the controls;
 *   - TokenMix (method and mask from the URL) draws its mask's parts; the run downloads as ONNX
 *     (classifier and dense teacher, both ONNX protobuf); the dense file, picked as the teacher of
 *     a Token Labeling run, is run by ONNX Runtime Web (its .wasm loaded from the nested path), its
 *     maps are drawn, and the MixToken box is marked as swapped embeddings;
 *   - the official binary test-only tarball loads 10,000 images; a truncated copy shows the loader's error;
 *   - without WebGPU the page explains what is missing.
 * Run: node --import ./scripts/register.mjs --test tests/e2e/playground.test.ts
 */
import assert from 'node:assert/strict';
import { copyFileSync, existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { type Locator, type Page } from 'playwright-core';
import { CI, launch, ROOT, serve, skip, tempDir, viteBuild, waitFor, watch } from './helpers.ts';

const STEP_BUDGET = 60;
const CIFAR = process.env.LABELFLOW_CIFAR10 ?? join(ROOT, '../shared/datasets/cifar10');
const TEST_TARBALL = join(CIFAR, 'cifar-10-binary.test-only.tar.gz');

const stateOf = (page: Page) => page.getByTestId('readout').getAttribute('data-state');
const stepOf = async (page: Page) => Number(await page.getByTestId('readout').getAttribute('data-step'));

/** Distinct colours and the share of pixels that are not the canvas's most common colour. */
function canvasStats(page: Page, testId: string) {
  return page.evaluate((id) => {
    const c = document.querySelector(`canvas[data-testid=${id}]`) as HTMLCanvasElement | null;
    if (!c || !c.width || !c.height) return { colours: 0, drawn: 0, step: null as string | null };
    const d = c.getContext('2d')!.getImageData(0, 0, c.width, c.height).data;
    const counts = new Map<number, number>();
    for (let i = 0; i < d.length; i += 4) {
      const k = (d[i] << 24) | (d[i + 1] << 16) | (d[i + 2] << 8) | d[i + 3];
      counts.set(k, (counts.get(k) ?? 0) + 1);
    }
    const top = Math.max(...counts.values());
    return { colours: counts.size, drawn: 1 - top / (d.length / 4), step: c.getAttribute('data-step') };
  }, testId);
}

/** Waits until the canvas has been drawn with at least `colours` colours and `drawn` of its pixels off the background. */
async function waitForDrawing(page: Page, id: string, log: string[], colours = 10, drawn = 0.05) {
  await page.locator(`canvas[data-testid=${id}]`).scrollIntoViewIfNeeded({ timeout: 60_000 });
  let s = await canvasStats(page, id);
  await waitFor(page, `${id} to be drawn`, async () => {
    s = await canvasStats(page, id);
    return s.step !== null && s.colours >= colours && s.drawn >= drawn;
  }, 60_000, log);
  return s;
}

/** Clicks a download button and returns the file's bytes. */
async function downloadOf(page: Page, button: Locator): Promise<{ name: string; bytes: Buffer; path: string }> {
  const [download] = await Promise.all([page.waitForEvent('download', { timeout: 30_000 }), button.click()]);
  const path = await download.path();
  return { name: download.suggestedFilename(), bytes: readFileSync(path), path };
}

/** An ONNX ModelProto starts with field 1 (ir_version, varint) = 8, then field 2 (producer_name, bytes). */
const ONNX_START = [0x08, 0x08, 0x12];

/** Clicks Pause and measures, in the page, the time until the readout says paused. */
function pauseLatencyMs(page: Page): Promise<number> {
  return page.evaluate(() => new Promise<number>((resolve, reject) => {
    const readout = document.querySelector('[data-testid=readout]')!;
    const button = [...document.querySelectorAll('button')].find((b) => b.textContent === 'Pause');
    if (!button) return reject(new Error('no Pause button'));
    const t0 = performance.now();
    const observer = new MutationObserver(() => {
      if (readout.getAttribute('data-state') === 'paused') {
        observer.disconnect();
        resolve(performance.now() - t0);
      }
    });
    observer.observe(readout, { attributes: true });
    button.click();
    setTimeout(() => reject(new Error('not paused within 20 s')), 20_000);
  }));
}

describe('playground', { skip }, () => {
  let url: string;
  let page: Page;
  let log: string[];

  test('train synthetic + test model + TL-Align: the loss falls and the views are drawn; Pause is prompt', { timeout: 420_000 }, async () => {
    url = await serve(viteBuild(), '/some/nested/path/');
    const context = await launch(true, { width: 1400, height: 1000 });
    page = await context.newPage();
    log = watch(page);
    // Start from other choices, so that picking them in the controls is what sets them.
    await page.goto(`${url}?dataset=cifar10&model=peer&method=none&lr=0.003&batch=16&epochs=4&warmup=0.1&train=512&test=128`);
    await page.getByTestId('adapter').waitFor({ timeout: 60_000 });
    await page.selectOption('select[name=dataset]', 'synthetic');
    await page.selectOption('select[name=model]', 'test');
    await page.selectOption('select[name=method]', 'tl-align');
    assert.match(page.url(), /dataset=synthetic.*model=test.*method=tl-align/);
    const t0 = Date.now();
    await page.getByRole('button', { name: 'Train' }).click();
    await waitFor(page, `${STEP_BUDGET} steps`, async () => (await stepOf(page)) >= STEP_BUDGET, 360_000, log);
    const seconds = (Date.now() - t0) / 1000;
    const readout = await page.getByTestId('readout').textContent();
    console.log(`${STEP_BUDGET} steps in ${seconds.toFixed(0)} s: ${readout}`);

    const losses = ((await page.getByTestId('readout').getAttribute('data-losses')) ?? '').split(',').map(Number);
    console.log(`losses every 5 steps: ${losses.join(' ')}`);
    const first = (losses[0] + losses[1]) / 2;
    const last = (losses.at(-1)! + losses.at(-2)!) / 2;
    assert.ok(losses.length >= 8 && last < first - 0.05, `the loss did not fall over ${STEP_BUDGET} steps: ${losses.join(', ')}`);

    // Views are read back only while on screen: bring each into view and give it a few steps.
    for (const id of ['view-batch', 'view-fluctuation', 'view-attention', 'view-smoothing', 'view-curves']) {
      await page.locator(`canvas[data-testid=${id}]`).scrollIntoViewIfNeeded();
      let s = await canvasStats(page, id);
      for (let tries = 0; tries < 120 && (s.colours < 30 || s.drawn < 0.05); tries++) {
        await page.waitForTimeout(500);
        s = await canvasStats(page, id);
      }
      console.log(`${id}: ${s.colours} colours, ${(100 * s.drawn).toFixed(0)}% drawn, step ${s.step}`);
      assert.ok(s.step !== null, `${id} was never drawn`);
      assert.ok(s.colours >= 30 && s.drawn >= 0.05, `${id} looks blank: ${s.colours} colours, ${(100 * s.drawn).toFixed(1)}% drawn`);
    }
    mkdirSync(join(ROOT, 'test-results'), { recursive: true });
    await page.evaluate(() => window.scrollTo(0, 0));
    await page.screenshot({ path: join(ROOT, 'test-results/playground.png') });

    const ms = await pauseLatencyMs(page);
    console.log(`pause latency: ${ms.toFixed(0)} ms`);
    assert.ok(ms < 1000, `Pause took ${ms.toFixed(0)} ms to take effect`);
    // The step queued before the click still finishes and is counted; nothing after it. Its curve
    // point comes after "paused" (once the GPU is done), then the checkpoint: wait for that, not a fixed time.
    const saved = page.getByTestId('run').first();
    await waitFor(page, 'the checkpoint written on pause', async () => Number(await saved.getAttribute('data-step')) === (await stepOf(page)), 30_000, log);
    const stepAtPause = await stepOf(page);
    await page.waitForTimeout(2000);
    assert.equal(await stepOf(page), stepAtPause, 'steps went on after the pause');
  });

  test('reload: the run is listed and resumes from its checkpoint', { timeout: 240_000 }, async () => {
    const run = page.getByTestId('run').first();
    await waitFor(page, 'the checkpoint of the paused run', async () => Number(await run.getAttribute('data-step')) > 0, 60_000, log);
    const saved = Number(await run.getAttribute('data-step'));
    await page.reload();
    await page.getByTestId('adapter').waitFor({ timeout: 60_000 });
    const listed = page.getByTestId('run').first();
    await listed.waitFor({ timeout: 30_000 });
    assert.equal(await listed.getAttribute('data-state'), 'paused');
    assert.equal(Number(await listed.getAttribute('data-step')), saved);
    await listed.getByRole('button', { name: 'Resume' }).click();
    await waitFor(page, 'training past the checkpoint', async () => (await stateOf(page)) === 'running' && (await stepOf(page)) > saved, 120_000, log);
    console.log(`resumed at step ${saved}, now ${await stepOf(page)}`);

    // A lost device: reported, a new device, and training goes on from the checkpoint.
    await page.evaluate(() => (globalThis as unknown as { labelflow: { getState(): { loseDevice(): void } } }).labelflow.getState().loseDevice());
    await page.getByTestId('device-lost').waitFor({ timeout: 30_000 });
    const after = await stepOf(page);
    await waitFor(page, 'training after the device loss', async () => (await stateOf(page)) === 'running' && (await stepOf(page)) > after, 120_000, log);
    console.log(`device lost at step ${after}: ${await page.getByTestId('device-lost').textContent()}`);
    await pauseLatencyMs(page);
    assert.deepEqual(log.filter((l) => !/device|lost|destroyed/i.test(l)), []);
  });

  test('a URL with a configuration reproduces it in the controls', { timeout: 120_000 }, async () => {
    const p = await page.context().newPage();
    await p.goto(`${url}?dataset=synthetic&model=peer&dim=48&heads=3&method=cutmix&lr=0.0005&batch=24&epochs=7&mixup=0.5&cutmix=0.7&smoothing=0.2&seed=5&wd=0.01&precision=f16&train=800&test=200`);
    await p.getByTestId('adapter').waitFor({ timeout: 60_000 });
    const value = (name: string) => p.locator(`[name=${name}]`).inputValue();
    const expected: Record<string, string> = {
      dataset: 'synthetic', model: 'peer', dim: '48', heads: '3', depth: '4', method: 'cutmix', lr: '0.0005', batch: '24', epochs: '7',
      mixupAlpha: '0.5', cutmixAlpha: '0.7', smoothing: '0.2', seed: '5', weightDecay: '0.01', precision: 'f16', trainLimit: '800', testLimit: '200',
    };
    for (const [name, v] of Object.entries(expected)) assert.equal(await value(name), v, `control ${name}`);
    // f16 is offered where the adapter has shader-f16; elsewhere the page says why it cannot train
    const hasF16 = await p.evaluate(async () => !!(await navigator.gpu.requestAdapter({ powerPreference: 'high-performance' }))?.features.has('shader-f16'));
    const f16Option = p.locator('[name=precision] option[value=f16]');
    assert.equal(await f16Option.isDisabled(), !hasF16, `the f16 option is ${hasF16 ? 'enabled' : 'disabled'} (shader-f16: ${hasF16})`);
    if (hasF16) {
      assert.equal(await p.getByRole('alert').count(), 0, 'no configuration errors');
    } else {
      assert.match(await p.getByTestId('config-error').innerText(), /precision f16 needs the adapter feature shader-f16/);
      assert.ok(await p.getByRole('button', { name: 'Train' }).isDisabled(), 'Train is disabled');
      await p.locator('[name=precision]').selectOption('f32');
      assert.equal(await p.getByRole('alert').count(), 0, 'no configuration errors with f32');
      assert.match(p.url(), /[?&]precision=f32(&|$)/, 'the URL follows the control');
    }
    await p.close();
  });

  test('TokenMix draws its mask parts; ONNX downloads; the dense export is a teacher for Token Labeling', { timeout: 240_000 }, async () => {
    url ??= await serve(viteBuild(), '/some/nested/path/');
    const t0 = Date.now();
    // Tall enough that the mixed batch is on screen from the start: these runs are 4 steps, and the
    // views are read back only while seen (at step 0 here).
    const p = await (await launch(true, { width: 1400, height: 1600 })).newPage();
    const plog = watch(p);
    // One epoch of 4 steps (64 images, batch 16), evaluated on 32: the run ends with a checkpoint.
    await p.goto(`${url}?dataset=synthetic&model=test&method=tokenmix&tokenmix_mask=blocks&tokenmix_loss=ce&lr=0.001&batch=16&epochs=1&warmup=0&train=64&test=32`);
    await p.getByTestId('adapter').waitFor({ timeout: 60_000 });
    assert.equal(await p.locator('[name=method]').inputValue(), 'tokenmix');
    assert.equal(await p.locator('[name=tokenmixMask]').inputValue(), 'blocks');
    assert.equal(await p.locator('[name=tokenmixLoss]').inputValue(), 'ce');
    await p.getByRole('button', { name: 'Train' }).click();
    const mask = await waitForDrawing(p, 'view-token-mix', plog);
    const parts = Number(await p.locator('canvas[data-testid=view-token-mix]').getAttribute('data-parts'));
    const share = Number(await p.locator('canvas[data-testid=view-token-mix]').getAttribute('data-share'));
    console.log(`tokenmix mask: ${parts} parts, partner share ${share}, ${mask.colours} colours, ${(100 * mask.drawn).toFixed(0)}% drawn, step ${mask.step}`);
    assert.ok(parts >= 1, `the mask has ${parts} parts`);
    assert.ok(Math.abs(share - 9 / 16) < 1e-6, `partner share ${share}: round((0.5 + 1/14)·16) = 9 of 16 tokens`);
    await waitForDrawing(p, 'view-batch', plog);
    mkdirSync(join(ROOT, 'test-results'), { recursive: true });
    await p.locator('[data-view=batch]').screenshot({ path: join(ROOT, 'test-results/playground-tokenmix.png') });
    await waitFor(p, 'the tokenmix run to finish', async () => (await stateOf(p)) === 'done', 120_000, plog);
    console.log(`tokenmix: trained and evaluated in ${((Date.now() - t0) / 1000).toFixed(1)} s`);
    // The epoch's result carries the train accuracy, on as many clean training images as the test split (32 of 64): a count over 32.
    const epochs = await p.evaluate(() => (globalThis as unknown as { labelflow: { getState(): { epochs: { test_acc: number; train_acc?: number }[] } } }).labelflow.getState().epochs);
    assert.equal(epochs.length, 1);
    assert.ok(epochs[0].train_acc !== undefined && Number.isInteger(epochs[0].train_acc * 32), `train accuracy ${epochs[0].train_acc}`);

    const run = p.getByTestId('run').filter({ hasText: 'tokenmix' }).first();
    await waitFor(p, 'the finished run in the list', async () => (await run.getAttribute('data-state')) === 'done', 30_000, plog);
    const classifier = await downloadOf(p, run.getByRole('button', { name: 'ONNX' }));
    const dense = await downloadOf(p, run.getByRole('button', { name: 'teacher (dense)' }));
    for (const f of [classifier, dense]) {
      console.log(`${f.name}: ${f.bytes.length} bytes`);
      assert.match(f.name, /\.onnx$/);
      assert.ok(f.bytes.length > 10_000, `${f.name} has only ${f.bytes.length} bytes`);
      assert.deepEqual([...f.bytes.subarray(0, 3)], ONNX_START, `${f.name} does not start as an ONNX model`);
    }
    assert.ok(!classifier.bytes.includes('dense_logits') && dense.bytes.includes('dense_logits'), 'only the teacher export has dense_logits');

    // The dense export as the teacher of a Token Labeling run (same 64 images, same 8-pixel patches).
    const teacherFile = join(tempDir('labelflow-teacher-'), dense.name);
    copyFileSync(dense.path, teacherFile);
    await p.evaluate(() => window.scrollTo(0, 0));
    await p.selectOption('select[name=method]', 'token-labeling');
    await p.getByRole('button', { name: 'Train' }).click();
    const error = p.getByTestId('error');
    await error.waitFor({ timeout: 10_000 });
    assert.match((await error.textContent()) ?? '', /needs a teacher: pick its \.onnx file with "teacher \(\.onnx\)" under Training/);
    const t1 = Date.now();
    await p.setInputFiles('input[name=teacher]', teacherFile);
    await p.getByRole('button', { name: 'Train' }).click();
    const status = p.getByTestId('teacher-status');
    await waitFor(p, 'the teacher maps', async () => (await status.count()) > 0, 120_000, plog);
    console.log(`${await status.textContent()} (${((Date.now() - t1) / 1000).toFixed(1)} s from Train)`);
    assert.match(await status.getAttribute('data-provider') ?? '', /^(webgpu|wasm)$/);
    const maps = await waitForDrawing(p, 'view-teacher', plog);
    console.log(`view-teacher: ${maps.colours} colours, ${(100 * maps.drawn).toFixed(0)}% drawn, step ${maps.step}`);
    await waitForDrawing(p, 'view-token-mix', plog);
    assert.equal(await p.locator('canvas[data-testid=view-token-mix]').getAttribute('data-mix'), 'mixtoken');
    await waitFor(p, 'the token-labeling run to finish', async () => (await stateOf(p)) === 'done', 120_000, plog);
    assert.deepEqual(plog, []);
    console.log(`tokenmix + ONNX + token-labeling with a teacher: ${((Date.now() - t0) / 1000).toFixed(1)} s`);
    await p.locator('[data-view=batch]').screenshot({ path: join(ROOT, 'test-results/playground-teacher.png') });
    await p.context().close();
  });

  test('the official test-only tarball loads 10,000 images; a truncated copy shows the loader error', { timeout: 300_000, skip: !existsSync(TEST_TARBALL) && !CI && `no ${TEST_TARBALL}` }, async () => {
    const p = await page.context().newPage();
    const plog = watch(p);
    await p.goto(url);
    await p.getByTestId('adapter').waitFor({ timeout: 60_000 });
    await p.selectOption('select[name=dataset]', 'file');
    const t0 = Date.now();
    await p.setInputFiles('input[name=archive]', TEST_TARBALL);
    const summary = p.getByTestId('dataset-summary');
    await waitFor(p, 'the archive to load', async () => (await summary.count()) > 0 || (await p.getByTestId('dataset-error').count()) > 0, 240_000, plog);
    assert.equal(await p.getByTestId('dataset-error').count(), 0, (await p.getByTestId('dataset-error').textContent().catch(() => '')) ?? '');
    assert.equal(await summary.getAttribute('data-test'), '10000');
    assert.equal(await summary.getAttribute('data-train'), '0');
    console.log(`test-only tarball loaded in ${((Date.now() - t0) / 1000).toFixed(1)} s: ${await summary.textContent()}`);

    const truncated = join(tempDir('labelflow-truncated-'), 'cifar-10-binary.truncated.tar.gz');
    const bytes = readFileSync(TEST_TARBALL);
    writeFileSync(truncated, bytes.subarray(0, Math.floor(bytes.length / 2)));
    await p.setInputFiles('input[name=archive]', truncated);
    const error = p.getByTestId('dataset-error');
    await error.waitFor({ timeout: 120_000 });
    const text = (await error.textContent()) ?? '';
    console.log(`truncated copy: ${text}`);
    assert.match(text, /cifar-10-binary\.truncated\.tar\.gz/);
    assert.match(text, /truncated|unexpected end/i);
    await p.close();
  });

  test('without WebGPU the page explains what is missing', { timeout: 120_000 }, async () => {
    const p = await (await launch(false)).newPage();
    await p.goto(url);
    const message = p.getByTestId('no-webgpu');
    await message.waitFor({ timeout: 60_000 }).catch(() => undefined);
    const text = (await p.textContent('body')) ?? '';
    assert.ok(await message.isVisible(), `no explanation shown; page says: ${text.slice(0, 500)}`);
    assert.match(text, /Chrome and Edge 113\+/);
    assert.match(text, /--enable-unsafe-webgpu/);
    await p.screenshot({ path: join(ROOT, 'test-results/playground-no-webgpu.png'), fullPage: true });
  });
});
