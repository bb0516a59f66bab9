/**
 * Playground state (zustand): what the page knows about WebGPU here, the chosen run options, and
 * the run's progress as the worker reports it. The worker is owned here; components only call actions.
 */
import { create } from 'zustand';
import { type AdapterReport, NoWebGPUError, openDevice } from '../gpu/device.ts';
import { type PresetName } from '../nn/presets.ts';
import { type FromWorker, type ProgressMessage, type ToWorker } from '../train/protocol.ts';

export type Probe =
  | { state: 'probing' }
  | { state: 'ok'; report: AdapterReport }
  | { state: 'none'; reason: string }
  | { state: 'failed'; reason: string };

export type RunState = 'idle' | 'starting' | 'running' | 'paused' | 'done' | 'error';

export interface Options { preset: PresetName; seed: number; steps: number; batch: number; lr: number }

interface Store {
  probe: Probe;
  options: Options;
  run: RunState;
  history: ProgressMessage[];
  error?: string;
  probeAdapter(): Promise<void>;
  setOptions(o: Partial<Options>): void;
  train(): void;
  pause(): void;
  resume(): void;
}

let worker: Worker | undefined;
let probing: Promise<void> | undefined;

function send(m: ToWorker) {
  if (!worker) {
    worker = new Worker(new URL('../train/worker.ts', import.meta.url), { type: 'module' });
    worker.onmessage = (ev: MessageEvent<FromWorker>) => onWorker(ev.data);
    worker.onerror = (ev) => useStore.setState({ run: 'error', error: `worker failed: ${ev.message || 'could not load'}` });
  }
  worker.postMessage(m);
}

function onWorker(m: FromWorker) {
  switch (m.type) {
    case 'ready': return useStore.setState({ run: 'running' });
    case 'progress': return useStore.setState((s) => ({ history: [...s.history, m] }));
    case 'done': return useStore.setState({ run: m.paused ? 'paused' : 'done' });
    case 'error': return useStore.setState({ run: 'error', error: m.message });
  }
}

async function probe() {
  const set = useStore.setState;
  const get = useStore.getState;
  try {
    // A device of its own, closed again: the worker opens the one it trains on.
    const { device, report } = await openDevice(navigator.gpu);
    device.destroy();
    set({ probe: { state: 'ok', report } });
    // Software adapters are ~1000× slower than a GPU: start them on the tiny model.
    if (report.isFallbackAdapter && get().run === 'idle') get().setOptions({ preset: 'test', batch: 8 });
  } catch (e) {
    const reason = e instanceof Error ? e.message : String(e);
    set({ probe: e instanceof NoWebGPUError ? { state: 'none', reason } : { state: 'failed', reason } });
  }
}

export const useStore = create<Store>()((set, get) => ({
  probe: { state: 'probing' },
  options: { preset: 'small', seed: 0, steps: 200, batch: 32, lr: 1e-3 },
  run: 'idle',
  history: [],

  probeAdapter() {
    return (probing ??= probe());
  },

  setOptions(o) {
    set({ options: { ...get().options, ...o } });
  },

  train() {
    set({ run: 'starting', history: [], error: undefined });
    send({ type: 'start', ...get().options });
  },

  pause() {
    send({ type: 'pause' });
  },

  resume() {
    set({ run: 'running' });
    send({ type: 'resume' });
  },
}));
