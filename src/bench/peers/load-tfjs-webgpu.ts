/**
 * TF.js with its WebGPU backend set, from the single module graph of tfjs-webgpu.ts: what the
 * bench page uses, and the GPU kit's bundled bench:peers (where loadTfjs has no esbuild to call).
 */
import { type Tf } from '../../check/tfjs-vit.ts';

export async function loadTfjsWebgpu(): Promise<Tf> {
  const tf = (await import('./tfjs-webgpu.ts')) as unknown as Tf;
  if (!(await tf.setBackend('webgpu'))) throw new Error('TF.js: the WebGPU backend did not initialise');
  return tf;
}
