/**
 * bench.html in headless Chromium (SwiftShader): the peer benchmark's quick run on the page's own
 * adapter, from the `vite build` served statically. TF.js and jax-js must compute labelflow's
 * loss (≤ 1e-4 relative) before they are timed, as in Node. Script responses arrive in reverse
 * order of request, so a chunk-order dependency shows here and not by chance in CI.
 * Chromium missing: skipped locally, a failure under CI=true.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { PeerBenchReport } from '../../src/bench/peers-bench.ts';
import { launch, serve, skip, viteBuild, watch } from './helpers.ts';

test('bench.html runs the quick peer benchmark in the browser', { skip, timeout: 600_000 }, async () => {
  const url = await serve(viteBuild(), '/nested/');
  const page = await (await launch(true)).newPage();
  const log = watch(page);
  // Scripts requested later arrive sooner (each held 0.1 s less than the one before), so the
  // page cannot depend on chunks evaluating in the order they were asked for. With TF.js imported
  // as three parallel chunks, this order made it fail ("Cannot evaluate flag 'DEBUG'", seen in CI).
  let requested = 0;
  await page.route('**/*.js', async (route) => {
    await new Promise((r) => setTimeout(r, Math.max(0, 1000 - 100 * requested++)));
    await route.continue();
  });
  const t0 = Date.now();
  await page.goto(`${url}bench.html?quick&autorun&samples=1`);
  await page.waitForFunction(() => window.__bench || window.__benchError, null, { timeout: 540_000 });
  const error = await page.evaluate(() => window.__benchError);
  assert.equal(error, undefined, `${error}\n${await page.textContent('#log')}\n${log.join('\n')}`);
  const report = await page.evaluate(() => window.__bench) as PeerBenchReport;
  console.log(`bench.html quick run: ${Date.now() - t0} ms\n${await page.textContent('#log')}`);
  assert.equal(report.ok, true, await page.textContent('#log') ?? '');
  assert.match(report.host, /Chrome/);
  const engines = report.presets[0].engines;
  assert.deepEqual(engines.map((e) => e.engine), ['labelflow', 'tfjs', 'jax']);
  for (const e of engines) {
    assert.ok(e.lossRel !== undefined && e.lossRel <= 1e-4, `${e.engine}: loss ${e.loss}, rel ${e.lossRel}`);
    assert.ok(e.imagesPerSecond! > 0, `${e.engine}: not timed`);
  }
  assert.equal(await page.locator('#tables table').count(), 4);
  assert.ok(await page.isVisible('#download'));
});
