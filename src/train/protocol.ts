/**
 * Messages between the playground page and the training worker (src/train/worker.ts).
 * Page → worker: start a run, pause it, resume it. Worker → page: the adapter the worker opened,
 * one progress message per step, done (finished or paused), error.
 */
import { type AdapterReport } from '../gpu/device.ts';

export interface StartMessage {
  type: 'start';
  preset: string;
  seed: number;
  steps: number;
  batch: number;
  lr: number;
}

export type ToWorker = StartMessage | { type: 'pause' } | { type: 'resume' };

export interface ProgressMessage {
  type: 'progress';
  /** 1-based: the number of optimizer steps taken so far. */
  step: number;
  loss: number;
  accuracy: number;
  /** Images per second over this step, wall clock including the read-back. */
  imgPerSec: number;
}

export type FromWorker =
  | { type: 'ready'; adapter: AdapterReport; parameters: number }
  | ProgressMessage
  | { type: 'done'; step: number; paused: boolean }
  | { type: 'error'; message: string; noWebGPU?: boolean };
