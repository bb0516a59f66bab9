/** The playground (minimal for now): what WebGPU adapter this page has, and a small training run on it. */
import { useEffect } from 'react';
import { type AdapterReport } from '../gpu/device.ts';
import { PRESETS, type PresetName } from '../nn/presets.ts';
import { vitParamSpecs } from '../nn/vit.ts';
import { LossChart } from './LossChart.tsx';
import { type Options, useStore } from './store.ts';

const fmt = (n: number) => n.toLocaleString('en-US');
/** Parameter count from the same shapes the model allocates (init functions are never called). */
const paramCount = (name: PresetName) => vitParamSpecs(PRESETS[name], 0).reduce((n, s) => n + s.shape.reduce((a, b) => a * b, 1), 0);
const PRESET_NAMES = Object.keys(PRESETS) as PresetName[];

export function App() {
  const probe = useStore((s) => s.probe);
  useEffect(() => void useStore.getState().probeAdapter(), []);
  return (
    <main style={{ fontFamily: 'system-ui, sans-serif', maxWidth: 760, margin: '1rem auto', padding: '0 1rem' }}>
      <h1>labelflow</h1>
      <p>Train a Vision Transformer on your own GPU, in this page, through WebGPU.</p>
      {probe.state === 'probing' && <p>Looking for a WebGPU adapter…</p>}
      {probe.state === 'none' && <NoWebGPU reason={probe.reason} />}
      {probe.state === 'failed' && <p role="alert">Opening the WebGPU device failed: {probe.reason}</p>}
      {probe.state === 'ok' && <><Adapter r={probe.report} /><Trainer /></>}
    </main>
  );
}

function NoWebGPU({ reason }: { reason: string }) {
  return (
    <section data-testid="no-webgpu" role="alert">
      <h2>This browser gives the page no WebGPU</h2>
      <p>{reason}</p>
      <p>WebGPU ships in Chrome and Edge 113+ (Windows, macOS, ChromeOS; Android 121+), Safari 26+, and Firefox 141+ on Windows.</p>
      <p>
        On Linux, Chrome/Chromium may need <code>--enable-unsafe-webgpu</code> on the command line (or the flag
        <code> chrome://flags/#enable-unsafe-webgpu</code>); in Firefox on other platforms, <code>dom.webgpu.enabled</code> in
        <code> about:config</code>. WebGPU also needs a secure context: https, or http on localhost. A GPU on the browser's blocklist gives no adapter either.
      </p>
    </section>
  );
}

function Adapter({ r }: { r: AdapterReport }) {
  return (
    <section data-testid="adapter">
      <h2>WebGPU adapter</h2>
      <p>
        <b>{[r.vendor, r.architecture, r.device].filter(Boolean).join(' ') || 'unnamed adapter'}</b>
        {r.description && ` — ${r.description}`}
        {r.isFallbackAdapter && ' (fallback adapter: software rendering, expect it to be about a thousand times slower than a GPU)'}
      </p>
      <details>
        <summary>Limits and features</summary>
        <ul>{Object.entries(r.limits).map(([k, v]) => <li key={k}>{k}: {fmt(v)}</li>)}</ul>
        <p>Features: {r.features.join(', ') || 'none'}</p>
      </details>
    </section>
  );
}

function Trainer() {
  const { options: o, run, history, error, setOptions, train, pause, resume } = useStore();
  const last = history.at(-1);
  const busy = run === 'starting' || run === 'running';
  const num = (key: keyof Options, min: number, step = 1) => (
    <label> {key}{' '}
      <input type="number" name={key} min={min} step={step} value={o[key]} disabled={busy} style={{ width: '5em' }}
        onChange={(e) => setOptions({ [key]: Number(e.target.value) })} />
    </label>
  );
  return (
    <section>
      <h2>Train on a fixed synthetic batch</h2>
      <p>Random images with random labels: the model can only memorise them, so the loss should fall towards 0. It tests the engine on this GPU, not learning.</p>
      <label>model{' '}
        <select name="preset" value={o.preset} disabled={busy} onChange={(e) => setOptions({ preset: e.target.value as PresetName })}>
          {PRESET_NAMES.map((p) => <option key={p} value={p}>{p} — {fmt(paramCount(p))} parameters</option>)}
        </select>
      </label>
      {num('steps', 1)}{num('batch', 1)}{num('lr', 0, 1e-4)}{num('seed', 0)}
      <p>
        {!busy && run !== 'paused' && <button onClick={train}>Train</button>}
        {busy && <button onClick={pause}>Pause</button>}
        {run === 'paused' && <><button onClick={resume}>Resume</button> <button onClick={train}>Restart</button></>}
      </p>
      <p data-testid="readout" data-state={run}>
        {run === 'starting' && 'Compiling kernels and building the model…'}
        {last && `step ${last.step}/${o.steps} · loss ${last.loss.toFixed(4)} · accuracy ${(100 * last.accuracy).toFixed(0)}% · ${last.imgPerSec.toFixed(1)} img/s`}
        {run === 'done' && ' · done'}
        {run === 'paused' && ' · paused'}
      </p>
      {error && <p role="alert">Training failed: {error}</p>}
      <LossChart history={history} steps={o.steps} />
    </section>
  );
}
