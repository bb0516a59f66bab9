/**
 * Teacher maps at full size in the page (headless Chromium, WebGPU on SwiftShader): a Token
 * Labeling run with a teacher on 50,000 training images (the synthetic set, the `test` model with
 * 4-pixel patches: a G = 8 token grid) computes the teacher's maps once — 50,000 × 10 classes × 64
 * tokens float32 = 128 MB, CIFAR-10's size at G = 8 — stores them in OPFS (the entry's size is
 * checked), and after a reload (a new worker, nothing in memory) the same run reads them from
 * storage instead of computing them. The teacher is the dense ONNX export of a short run made
 * first through the page's own Runs → "teacher (dense)". Prints each time.
 * Run: node scripts/run-tests.mjs tests/e2e/teacher-maps-full.test.ts
 */
import assert from 'node:assert/strict';
import { copyFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { type Page } from 'playwright-core';
import { launch, opfsFiles, serve, skip, tempDir, viteBuild, waitFor, watch } from './helpers.ts';

const IMAGES = 50_000;
const CLASSES = 10;
const TOKENS = 64;
const MAPS_BYTES = IMAGES * CLASSES * TOKENS * 4;
const MODEL = 'model=test&patch=4&lr=0.001&warmup=0&epochs=1';

const stateOf = (page: Page) => page.getByTestId('readout').getAttribute('data-state');
const stepOf = async (page: Page) => Number(await page.getByTestId('readout').getAttribute('data-step'));

describe('teacher maps at full size', { skip }, () => {
  test(`Token Labeling on ${IMAGES.toLocaleString('en-US')} images stores its ${MAPS_BYTES / 1e6} MB of teacher maps and reuses them after a reload`, { timeout: 1_500_000 }, async () => {
    const url = await serve(viteBuild(), '/app/');
    const context = await launch(true, { width: 1400, height: 1600 });
    const page = await context.newPage();
    const log = watch(page);

    // The teacher: a one-epoch run of the same model, exported dense from the Runs list.
    let t0 = Date.now();
    await page.goto(`${url}?dataset=synthetic&${MODEL}&method=none&batch=16&train=64&test=32`);
    await page.getByTestId('adapter').waitFor({ timeout: 60_000 });
    await page.getByRole('button', { name: 'Train' }).click();
    await waitFor(page, 'the teacher run to finish', async () => (await stateOf(page)) === 'done', 180_000, log);
    const run = page.getByTestId('run').first();
    await waitFor(page, 'the finished run in the list', async () => (await run.getAttribute('data-state')) === 'done', 30_000, log);
    const [download] = await Promise.all([page.waitForEvent('download', { timeout: 30_000 }), run.getByRole('button', { name: 'teacher (dense)' }).click()]);
    const teacher = join(tempDir('labelflow-teacher-full-'), download.suggestedFilename());
    copyFileSync(await download.path(), teacher);
    console.log(`teacher ${download.suggestedFilename()} trained and exported in ${((Date.now() - t0) / 1000).toFixed(1)} s`);

    // First Token Labeling run: the maps are computed and stored.
    const query = `?dataset=synthetic&${MODEL}&method=token-labeling&batch=32&train=${IMAGES}&test=100`;
    await page.goto(url + query);
    await page.getByTestId('adapter').waitFor({ timeout: 60_000 });
    await page.setInputFiles('input[name=teacher]', teacher);
    t0 = Date.now();
    await page.getByRole('button', { name: 'Train' }).click();
    const status = page.getByTestId('teacher-status');
    let shown = Date.now();
    await waitFor(page, 'the teacher maps to be computed', async () => {
      if (Date.now() - shown > 30_000) {
        shown = Date.now();
        console.log(`  ${((shown - t0) / 1000).toFixed(0)} s: ${await page.getByTestId('readout').innerText()} · ${await page.locator('progress').first().getAttribute('value').catch(() => '?')} images`);
      }
      return (await status.count()) > 0;
    }, 1_200_000, log);
    const computeSeconds = (Date.now() - t0) / 1000;
    console.log(`computed: ${await status.innerText()} (${computeSeconds.toFixed(1)} s from Train, the synthetic set generated included)`);
    assert.equal(await status.getAttribute('data-cached'), 'false');
    assert.match(await status.getAttribute('data-provider') ?? '', /^(webgpu|wasm)$/);
    assert.match(await status.innerText(), /maps of 50,000 images, 8×8 tokens × 10 classes/);
    const cacheNote = page.getByTestId('teacher-cache');
    await cacheNote.waitFor({ timeout: 10_000 });
    console.log(`stored: ${await cacheNote.innerText()}`);
    assert.equal(await cacheNote.getAttribute('data-stored'), 'true');
    const stored = Number(await cacheNote.getAttribute('data-bytes'));
    assert.ok(stored > MAPS_BYTES && stored < MAPS_BYTES + 512, `${stored} bytes stored for ${MAPS_BYTES} bytes of maps and a header`);
    const entries = Object.entries(await opfsFiles(page)).filter(([f]) => f.startsWith('labelflow/teacher-maps/'));
    assert.equal(entries.length, 1, JSON.stringify(entries));
    assert.equal(entries[0][1], stored, `the OPFS entry ${entries[0][0]}`);
    assert.match(decodeURIComponent(entries[0][0]), new RegExp(`:${IMAGES}x3x32x32-[0-9a-f]{64}$`));
    await waitFor(page, 'training with the computed maps', async () => (await stepOf(page)) >= 5, 300_000, log);
    console.log(`training with computed maps: step ${await stepOf(page)}, ${((Date.now() - t0) / 1000).toFixed(1)} s from Train`);
    const panelEntry = page.locator('[data-testid=stored-entry][data-kind=teacher-maps]');
    await waitFor(page, 'the Storage panel to list the maps', async () => (await panelEntry.count()) === 1, 30_000, log);
    assert.equal(Number(await panelEntry.getAttribute('data-bytes')), stored);
    console.log(`Storage panel: ${await panelEntry.innerText()}`);

    // After a reload (a new worker): the same run reads the maps from storage.
    await page.reload();
    await page.getByTestId('adapter').waitFor({ timeout: 60_000 });
    await page.setInputFiles('input[name=teacher]', teacher);
    t0 = Date.now();
    await page.getByRole('button', { name: 'Train' }).click();
    await waitFor(page, 'the teacher maps from storage', async () => (await status.count()) > 0, 300_000, log);
    const cachedSeconds = (Date.now() - t0) / 1000;
    console.log(`reused: ${await status.innerText()} (${cachedSeconds.toFixed(1)} s from Train, the synthetic set generated included)`);
    assert.equal(await status.getAttribute('data-cached'), 'true');
    assert.equal(await status.getAttribute('data-provider'), 'cached');
    assert.match(await status.innerText(), /maps of 50,000 images, 8×8 tokens × 10 classes, read from browser storage/);
    await waitFor(page, 'training with the stored maps', async () => (await stepOf(page)) >= 5, 300_000, log);
    console.log(`training with stored maps: step ${await stepOf(page)}, ${((Date.now() - t0) / 1000).toFixed(1)} s from Train; computing took ${computeSeconds.toFixed(1)} s`);
    assert.deepEqual(Object.entries(await opfsFiles(page)).filter(([f]) => f.startsWith('labelflow/teacher-maps/')), entries, 'the same entry, not written again');
    assert.deepEqual(log, []);
  });
});
