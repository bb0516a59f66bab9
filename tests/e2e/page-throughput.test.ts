/**
 * The page as fast as the engine (issue 15, item 6): in one headless Chromium (WebGPU on its
 * adapter, SwiftShader here), the playground page's training images/s with every live view on
 * screen, against the same RunConfig trained by a bare page with no UI (engine.html?bare-training).
 *
 * The page trains in a Web Worker, so the bare page does too: the same TrainingRun in a dedicated
 * worker of its own, on a device of its own, driven by the page's worker's loop (the same loss
 * reads every 5 steps, at most one step queued ahead). What is left is what the page adds: the
 * views' read-backs every 10 steps, the snapshot and curve messages, and the main thread
 * re-rendering and drawing while it trains.
 *
 * Both are timed the same way: a window of WINDOW steps from one loss read to a later one (the
 * page's from its own curve points, whose imgPerS is the read-out's img/s; steps up to the first
 * read after a start or resume are warm-up and not timed). Windows alternate (page, bare, bare,
 * page, …), so the load of a shared machine falls on both alike; the figure is the median of the per-round
 * ratios, written to test-results/page-figures.json (npm run readme:tables puts it in the README).
 * Each turn also counts the CPU time of all Chromium's processes (CDP SystemInfo.getProcessInfo)
 * per trained image. On a loaded machine images/s swing with the load and the CPU per image does
 * not, so the ≥ 0.90 target is asserted on the CPU measure, and images/s are checked against the
 * target under CI (where this test has the machine to itself) and only to be near 1 elsewhere.
 * Run: node scripts/run-tests.mjs tests/e2e/page-throughput.test.ts
 */
import assert from 'node:assert/strict';
import { copyFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { build } from 'esbuild';
import { type CDPSession, type Page } from 'playwright-core';
import { adapterName, type AdapterReport } from '../../src/gpu/device.ts';
import { type CurvePoint, type RunConfig } from '../../src/train/protocol.ts';
import type { BareRunInfo, BareWindow } from './engine-page.ts';
import { CI, launch, recordFigure, ROOT, serve, skip, tempDir, viteBuild, watch } from './helpers.ts';

/** The page's worker reads the loss (and posts a curve point) every 5 steps; the bare loop reads at the same steps. */
const READ_EVERY = 5;
/** Timed steps per window: a multiple of the views' read-back cadence (10 steps), so every window carries as many snapshots. */
const WINDOW = 20;
/**
 * Six rounds: with four, one CI run on this shared 2-core machine had two disturbed rounds (0.754 and a
 * median of 0.872) where the runs before and after gave medians of 0.967–0.976; the median of six holds against two.
 */
const ROUNDS = 6;
const BATCH = 16;
/** Synthetic data, the `test` model, the page's default method; enough training images that no epoch ends while measuring. */
const QUERY = `dataset=synthetic&model=test&batch=${BATCH}&seed=0&epochs=1&train=4096&test=64`;
const LIVE_VIEWS = ['batch', 'fluctuation', 'attention', 'smoothing'] as const;
const TARGET = 0.9;

interface PageStore {
  getState(): {
    config: RunConfig;
    state: string;
    error?: string;
    points: CurvePoint[];
    info?: { runId: string; adapter: AdapterReport; stepsPerEpoch: number; parameters: number };
    runs: { id: string; checkpointStep?: number }[];
    views: Record<(typeof LIVE_VIEWS)[number], boolean>;
    train(): void;
    pause(): void;
    resume(): void;
  };
}
declare global {
  /** The playground's store, as src/ui/main.tsx exposes it (read inside page.evaluate). */
  var labelflow: PageStore;
}

interface Timed { steps: number; seconds: number; imgPerS: number }

/** CPU seconds Chromium's processes have used so far, summed by process type (browser, renderer, GPU, …). */
async function chromiumCpu(session: CDPSession): Promise<Record<string, number>> {
  const { processInfo } = await session.send('SystemInfo.getProcessInfo');
  const byType: Record<string, number> = {};
  for (const p of processInfo) byType[p.type] = (byType[p.type] ?? 0) + p.cpuTime;
  return byType;
}

/**
 * CPU milliseconds per trained image, by process type, between two chromiumCpu samples: a
 * measure of cost that, unlike images/s, hardly depends on what else the machine runs.
 */
function cpuPerImage(before: Record<string, number>, after: Record<string, number>, images: number): Record<string, number> {
  const bucket = (type: string) => (['GPU', 'renderer', 'browser'].includes(type) ? type : 'other');
  const ms: Record<string, number> = { GPU: 0, renderer: 0, browser: 0, other: 0 };
  for (const t of new Set([...Object.keys(before), ...Object.keys(after)])) ms[bucket(t)] += (1000 * ((after[t] ?? 0) - (before[t] ?? 0))) / images;
  ms.all = ms.GPU + ms.renderer + ms.browser + ms.other;
  return ms;
}

const cpuText = (ms: Record<string, number>) =>
  `${ms.all.toFixed(0)} ms CPU/img (GPU process ${ms.GPU.toFixed(0)}, renderers ${ms.renderer.toFixed(0)}, browser ${ms.browser.toFixed(0)}, other ${ms.other.toFixed(0)})`;

const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
};

async function pageFails(page: Page, log: string[]): Promise<string | undefined> {
  const error = await page.evaluate(() => labelflow.getState().error);
  return error ? `the page shows an error: ${error}\n${log.join('\n')}` : undefined;
}

/**
 * Starts (the first time) or resumes the page's run, waits for `points` curve points after the
 * warm-up one, and pauses. Returns the new points and the step the run was resumed from.
 */
async function trainInPage(page: Page, points: number, log: string[]): Promise<{ points: CurvePoint[]; from: number }> {
  const [before, from] = await page.evaluate(() => [labelflow.getState().points.length, labelflow.getState().points.at(-1)?.step ?? 0]);
  await page.evaluate(() => (labelflow.getState().info ? labelflow.getState().resume() : labelflow.getState().train()));
  await page.waitForFunction((n) => labelflow.getState().points.length >= n || !!labelflow.getState().error, before + 1 + points,
    { timeout: 240_000, polling: 250 });
  const failed = await pageFails(page, log);
  assert.equal(failed, undefined, failed);
  await page.evaluate(() => labelflow.getState().pause());
  // Paused, and the pause's checkpoint written: nothing of the page's run overlaps the bare window.
  await page.waitForFunction(() => {
    const s = labelflow.getState();
    const last = s.points.at(-1);
    return !!s.error || (s.state === 'paused' && !!last && s.runs.find((r) => r.id === s.info?.runId)?.checkpointStep === last.step);
  }, null, { timeout: 60_000, polling: 100 });
  return { points: (await page.evaluate(() => labelflow.getState().points)).slice(before), from };
}

/** The page's window: WINDOW steps of curve points after the first one (warm-up), each point's interval as the worker timed it. */
async function pageWindow(page: Page, log: string[]): Promise<Timed & { first: number; last: number; trained: number }> {
  const { points, from } = await trainInPage(page, WINDOW / READ_EVERY, log);
  const timed = points.slice(1, 1 + WINDOW / READ_EVERY);
  let seconds = 0;
  for (let i = 0; i < timed.length; i++) {
    const steps = timed[i].step - points[i].step;
    assert.equal(steps, READ_EVERY, `curve points ${points[i].step} → ${timed[i].step}: expected one every ${READ_EVERY} steps`);
    assert.ok(timed[i].imgPerS > 0, `curve point at step ${timed[i].step} has img/s ${timed[i].imgPerS}`);
    seconds += (steps * BATCH) / timed[i].imgPerS;
  }
  return { steps: WINDOW, seconds, imgPerS: (WINDOW * BATCH) / seconds, first: points[0].step, last: timed.at(-1)!.step, trained: points.at(-1)!.step - from };
}

/** Each live view's canvas and the step it last drew. */
const drawnSteps = (page: Page) => page.evaluate((ids) => ids.map((id) => {
  const canvas = document.querySelector(`canvas[data-testid=view-${id}]`);
  const rect = canvas?.getBoundingClientRect();
  return { id, step: Number(canvas?.getAttribute('data-step') ?? NaN), onScreen: !!rect && rect.bottom > 0 && rect.top < innerHeight && rect.height > 0 };
}), [...LIVE_VIEWS]);

test('the page keeps the bare page\'s training images/s with every live view on screen', { skip, timeout: 420_000 }, async () => {
  const t0 = Date.now();
  const bareDir = tempDir('labelflow-bare-');
  await build({
    entryPoints: [join(ROOT, 'tests/e2e/engine-page.ts')], outfile: join(bareDir, 'engine.js'), bundle: true, format: 'esm',
    target: 'es2022', platform: 'browser', loader: { '.wgsl': 'text' }, logLevel: 'warning',
  });
  copyFileSync(join(ROOT, 'tests/e2e/engine.html'), join(bareDir, 'engine.html'));
  const [pageUrl, bareUrl] = [await serve(viteBuild(), '/playground/'), await serve(bareDir, '/bare/')];

  // Tall enough that the four live views are on screen at once (their sections intersect the viewport).
  const context = await launch(true, { width: 1400, height: 3200 });
  const page = await context.newPage();
  const log = watch(page);
  await page.goto(`${pageUrl}?${QUERY}`);
  await page.getByTestId('adapter').waitFor({ timeout: 60_000 });
  const cdp = await context.browser()!.newBrowserCDPSession();
  const bare = await context.newPage();
  const bareLog = watch(bare);
  await bare.goto(`${bareUrl}engine.html?bare-training`);
  await bare.waitForFunction(() => !!window.__bareTraining, null, { timeout: 30_000 });

  const config = await page.evaluate(() => labelflow.getState().config);
  assert.equal(config.model, 'test');
  assert.equal(config.batch, BATCH);

  // Warm-up of both (pipelines compiled, buffers made): two reads each, not timed.
  await trainInPage(page, 2, log);
  const pageInfo = (await page.evaluate(() => labelflow.getState().info))!;
  const bareInfo = await bare.evaluate(([c, r]) => window.__bareTraining!.open(c, r), [config, READ_EVERY] as const) as BareRunInfo;
  assert.equal(bareInfo.readEvery, READ_EVERY);
  assert.equal(bareInfo.stepsPerEpoch, pageInfo.stepsPerEpoch, 'the same training set and batch');
  assert.equal(bareInfo.parameters, pageInfo.parameters, 'the same model');
  const adapter = adapterName(pageInfo.adapter);
  assert.equal(adapterName(bareInfo.adapter), adapter, 'the page and the bare page train on the same adapter');
  await bare.evaluate((n) => window.__bareTraining!.train(n), 2 * READ_EVERY);
  const views = await page.evaluate(() => labelflow.getState().views);
  for (const v of LIVE_VIEWS) assert.equal(views[v], true, `the ${v} view is not on screen (the viewport is too small for all live views)`);
  console.log(`${config.method} · ${config.model} · batch ${config.batch} · ${pageInfo.stepsPerEpoch} steps per epoch on ${adapter}; setup ${((Date.now() - t0) / 1000).toFixed(0)} s`);

  // CPU per image over each side's whole turn (warm-up steps, and the page's pause and checkpoint, included).
  const pageTurn = async () => {
    const cpu0 = await chromiumCpu(cdp);
    const timed = await pageWindow(page, log);
    const cpu = cpuPerImage(cpu0, await chromiumCpu(cdp), timed.trained * BATCH);
    // Every live view was read back and drawn during the window.
    for (const d of await drawnSteps(page)) {
      assert.ok(d.onScreen, `the ${d.id} view is not on screen`);
      assert.ok(d.step > timed.first && d.step <= timed.last + READ_EVERY,
        `the ${d.id} view last drew step ${d.step}, not one of the window's (${timed.first}–${timed.last})`);
    }
    return { timed, cpu };
  };
  const bareTurn = async () => {
    const cpu0 = await chromiumCpu(cdp);
    const timed = await bare.evaluate((n) => window.__bareTraining!.train(n), WINDOW) as BareWindow;
    const cpu = cpuPerImage(cpu0, await chromiumCpu(cdp), (timed.warmupSteps + timed.steps) * BATCH);
    assert.equal(timed.steps, WINDOW);
    assert.ok(Number.isFinite(timed.loss) && timed.loss > 0, `the bare run's loss is ${timed.loss}`);
    return { timed, cpu };
  };
  const rounds: { page: Timed; bare: BareWindow; ratio: number; pageCpu: Record<string, number>; bareCpu: Record<string, number> }[] = [];
  for (let round = 1; round <= ROUNDS; round++) {
    // Page first in odd rounds, bare first in even ones (A B B A …): a drift of the machine's load does not favour either.
    let p: Awaited<ReturnType<typeof pageTurn>>;
    let b: Awaited<ReturnType<typeof bareTurn>>;
    if (round % 2) [p, b] = [await pageTurn(), await bareTurn()];
    else [b, p] = [await bareTurn(), await pageTurn()];
    const ratio = p.timed.imgPerS / b.timed.imgPerS;
    rounds.push({ page: p.timed, bare: b.timed, ratio, pageCpu: p.cpu, bareCpu: b.cpu });
    console.log(`round ${round}: page ${p.timed.imgPerS.toFixed(2)} img/s (steps ${p.timed.first}–${p.timed.last}, ${p.timed.seconds.toFixed(1)} s), ` +
      `bare ${b.timed.imgPerS.toFixed(2)} img/s (steps ${b.timed.step - b.timed.steps}–${b.timed.step}, ${b.timed.seconds.toFixed(1)} s, ` +
      `loss ${b.timed.loss.toFixed(3)}): ratio ${ratio.toFixed(3)}\n  page ${cpuText(p.cpu)}\n  bare ${cpuText(b.cpu)}`);
  }
  assert.deepEqual(log, [], 'the page logged errors');
  assert.deepEqual(bareLog, [], 'the bare page logged errors');

  const ratios = rounds.map((r) => r.ratio);
  const ratio = median(ratios);
  const [low, high] = [Math.min(...ratios), Math.max(...ratios)];
  const pagePerS = median(rounds.map((r) => r.page.imgPerS));
  const barePerS = median(rounds.map((r) => r.bare.imgPerS));
  const pageCpuPerImage = median(rounds.map((r) => r.pageCpu.all));
  const bareCpuPerImage = median(rounds.map((r) => r.bareCpu.all));
  // What the page would keep of the bare page's images/s where the training is CPU-bound (a software adapter) and nothing else runs.
  const cpuRatio = median(rounds.map((r) => r.bareCpu.all / r.pageCpu.all));
  const pass = ratio >= TARGET;
  console.log(`page/bare images/s: median ${ratio.toFixed(3)} (${low.toFixed(3)}–${high.toFixed(3)} over ${ROUNDS} rounds); ` +
    `page ${pagePerS.toFixed(2)} img/s, bare ${barePerS.toFixed(2)} img/s; target ≥ ${TARGET}: ${pass ? 'met' : 'NOT met'}; ` +
    `Chromium CPU per image: page ${pageCpuPerImage.toFixed(1)} ms, bare ${bareCpuPerImage.toFixed(1)} ms (bare/page median ${cpuRatio.toFixed(3)}); ` +
    `${((Date.now() - t0) / 1000).toFixed(0)} s in all`);
  recordFigure('page-vs-headless', {
    label: `page vs bare page, training images/s (${config.model} model, ${config.method}, batch ${config.batch}, synthetic; all live views on screen)`,
    value: Number(ratio.toFixed(3)), unit: 'ratio', target: `≥ ${TARGET.toFixed(2)}`, pass, adapter,
    command: 'node scripts/run-tests.mjs tests/e2e/page-throughput.test.ts',
    detail: `median of ${ROUNDS} alternating windows of ${WINDOW} steps (range ${low.toFixed(3)}–${high.toFixed(3)}): ` +
      `page ${pagePerS.toFixed(2)} img/s, bare ${barePerS.toFixed(2)} img/s; Chromium CPU per image: page ${pageCpuPerImage.toFixed(1)} ms, ` +
      `bare ${bareCpuPerImage.toFixed(1)} ms (bare/page ${cpuRatio.toFixed(3)})`,
  });
  // Images/s on a shared machine swing with its load (single windows from 0.83 to 1.51 of the bare
  // page's on 2 cores busy with other work), so there only a ratio far from 1 fails: the comparison
  // itself is broken. Under CI the machine runs this test alone (windows within 0.974–0.995 of each
  // other there), and the target itself is asserted.
  assert.ok(ratio > 0.5 && ratio < 1.5, `page/bare images/s ${ratio.toFixed(3)}: the two did not train the same thing the same way`);
  if (CI) assert.ok(pass, `the page keeps ${ratio.toFixed(3)} of the bare page's images/s (median of ${ROUNDS} rounds, ${low.toFixed(3)}–${high.toFixed(3)}); the target is ≥ ${TARGET}`);
  // CPU per image hardly depends on the load, so the target is asserted on it (it misses stalls: the figure above is what shows those).
  assert.ok(cpuRatio >= TARGET, `the page spends ${pageCpuPerImage.toFixed(1)} ms of CPU per image, the bare page ${bareCpuPerImage.toFixed(1)} ms: ` +
    `it keeps ${cpuRatio.toFixed(3)} of the bare page's images/s on a CPU-bound adapter (target ≥ ${TARGET})`);
});
