/**
 * Browser entry for tests/e2e/browser-engine.test.ts: the same fixed training run the Node test
 * runs, on the page's own WebGPU adapter. Bundled with esbuild (.wgsl as text) next to engine.html.
 */
import { openDevice } from '../../src/gpu/device.ts';
import { Gpu } from '../../src/gpu/gpu.ts';
import { fixedRun } from '../../src/train/fixed-run.ts';

declare global {
  interface Window {
    __result?: { losses: number[]; accuracies: number[]; adapter: unknown; ms: number };
    __error?: string;
  }
}

async function main() {
  const t0 = performance.now();
  const { device, report } = await openDevice(navigator.gpu);
  const gpu = new Gpu(device, report);
  const r = await fixedRun(gpu, { preset: 'test', seed: 0, steps: 4, batch: 8 });
  if (gpu.errors.length) throw new Error(`device errors: ${gpu.errors.join('; ')}`);
  window.__result = { losses: r.losses, accuracies: r.accuracies, adapter: report, ms: performance.now() - t0 };
  document.body.textContent = `losses: ${r.losses.join(', ')}`;
}

main().catch((e: unknown) => {
  window.__error = e instanceof Error ? `${e.name}: ${e.message}\n${e.stack ?? ''}` : String(e);
  document.body.textContent = `error: ${window.__error}`;
});
