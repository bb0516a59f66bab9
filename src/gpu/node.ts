/**
 * WebGPU in Node through Dawn (the `webgpu` package). Node entry points only: the browser
 * bundle never imports this file.
 *
 * The object returned by `create()` must stay reachable while the device is used; dropping it
 * crashes the process (measured, see shared docs), so it is pinned in a module variable.
 */
import { existsSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { resolve } from 'node:path';
import { create, globals } from 'webgpu';
import { openDevice } from './device.ts';
import { Gpu } from './gpu.ts';

let pinnedGpu: GPU | undefined;

/** Software Vulkan drivers, fastest first, used when no driver is chosen by the environment. */
const SOFTWARE_ICDS = [
  '.webgpu-sw/lvp_icd.json', // Mesa 25 lavapipe, unpacked by scripts/setup-webgpu.sh
  '/usr/lib/chromium/vk_swiftshader_icd.json', // SwiftShader, shipped in Debian's chromium
];

export function nodeGpu(): GPU {
  if (pinnedGpu) return pinnedGpu;
  if (!process.env.VK_ICD_FILENAMES && !process.env.VK_DRIVER_FILES && process.env.LABELFLOW_SOFTWARE_GPU !== '0') {
    const hardware = existsSync('/dev/dri') || existsSync('/dev/nvidia0');
    const icd = SOFTWARE_ICDS.map((p) => resolve(p)).find((p) => existsSync(p));
    if (!hardware && icd) process.env.VK_ICD_FILENAMES = icd;
  }
  Object.assign(globalThis, globals);
  pinnedGpu = create([]) as unknown as GPU;
  return pinnedGpu;
}

export async function openNodeGpu(): Promise<Gpu> {
  const { device, report } = await openDevice(nodeGpu());
  return new Gpu(device, report);
}

/**
 * Defines `navigator` as a browser has it, from this process's Dawn instance, for libraries that
 * look for WebGPU there (the peers in `npm run bench:peers`). Node 20 has no `navigator`; jax-js
 * also reads its userAgent and hardwareConcurrency.
 */
export function installNavigator(): void {
  const gpu = nodeGpu();
  const g = globalThis as { navigator?: { gpu?: GPU } };
  if (!g.navigator) {
    const navigator = { gpu, userAgent: `Node.js/${process.versions.node}`, hardwareConcurrency: availableParallelism() };
    Object.defineProperty(globalThis, 'navigator', { value: navigator, configurable: true, writable: true });
  } else if (!g.navigator.gpu) {
    Object.defineProperty(g.navigator, 'gpu', { value: gpu, configurable: true });
  }
}
