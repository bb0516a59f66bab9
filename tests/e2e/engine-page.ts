/**
 * Browser entry for tests/e2e/browser-engine.test.ts: the same fixed training run the Node test
 * runs, on the page's own WebGPU adapter; and the page's image decoder on sample.jpg / sample.png
 * (written next to engine.html by the test). Bundled with esbuild (.wgsl as text).
 */
import { browserImageDecoder } from '../../src/data/imagefolder-web.ts';
import { openDevice } from '../../src/gpu/device.ts';
import { Gpu } from '../../src/gpu/gpu.ts';
import { fixedRun } from '../../src/train/fixed-run.ts';

declare global {
  interface Window {
    __result?: { losses: number[]; accuracies: number[]; adapter: unknown; ms: number };
    __decoded?: { jpeg: number[]; png: number[]; notImage: string };
    __error?: string;
  }
}

async function main() {
  const t0 = performance.now();
  const { device, report } = await openDevice(navigator.gpu);
  const gpu = new Gpu(device, report);
  const r = await fixedRun(gpu, { preset: 'test', seed: 0, steps: 4, batch: 8 });
  if (gpu.errors.length) throw new Error(`device errors: ${gpu.errors.join('; ')}`);
  const decode = async (file: string, kind: 'jpeg' | 'png') =>
    [...(await browserImageDecoder(new Uint8Array(await (await fetch(file)).arrayBuffer()), kind, file)).chw];
  const notImage = await Promise.resolve(browserImageDecoder(new TextEncoder().encode('<!DOCTYPE html>'), 'jpeg', 'x.tar.gz: test/cat/1.jpg'))
    .then(() => 'decoded', (e: Error) => e.message);
  window.__decoded = { jpeg: await decode('sample.jpg', 'jpeg'), png: await decode('sample.png', 'png'), notImage };
  window.__result = { losses: r.losses, accuracies: r.accuracies, adapter: report, ms: performance.now() - t0 };
  document.body.textContent = `losses: ${r.losses.join(', ')}`;
}

main().catch((e: unknown) => {
  window.__error = e instanceof Error ? `${e.name}: ${e.message}\n${e.stack ?? ''}` : String(e);
  document.body.textContent = `error: ${window.__error}`;
});
