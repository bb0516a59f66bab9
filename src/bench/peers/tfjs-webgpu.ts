/**
 * TF.js for the bench page: tfjs-core, its gradients, the WebGPU backend, in this order, in one
 * module graph. Three parallel dynamic imports let the bundle's chunks evaluate in whatever order
 * they arrived, and when the gradients' chunk ran before core's own entry (which registers the
 * environment flags), TF.js failed with "Cannot evaluate flag 'DEBUG'" (seen in CI; reproduced by
 * delaying core's chunk).
 */
export * from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-core/dist/register_all_gradients';
import '@tensorflow/tfjs-backend-webgpu';
