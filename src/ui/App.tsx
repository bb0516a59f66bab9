/** The playground: configure a run, train it in the worker on this page's GPU, and watch it. */
import { useEffect } from 'react';
import { adapterName, type AdapterReport } from '../gpu/device.ts';
import { Controls } from './Controls.tsx';
import { Runs } from './Runs.tsx';
import { Section } from './Section.tsx';
import { StoragePanel } from './StoragePanel.tsx';
import { useStore } from './store.ts';
import { AttentionView, ConfusionView, CurvesView, type CurveRun, MixedBatchView, OverSmoothingView, PredictionsView, TokenFluctuationView } from './views/index.ts';

const fmt = (n: number, digits = 0) => n.toLocaleString('en-US', { maximumFractionDigits: digits, minimumFractionDigits: digits });

export function App() {
  const probe = useStore((s) => s.probe);
  useEffect(() => {
    void useStore.getState().probeAdapter();
    void useStore.getState().refreshRuns();
  }, []);
  return (
    <main>
      <header>
        <h1>labelflow</h1>
        <p>Train a Vision Transformer on your own GPU, in this page, through WebGPU — and watch how mixed labels flow through attention.</p>
      </header>
      {probe.state === 'probing' && <p>Looking for a WebGPU adapter…</p>}
      {probe.state === 'none' && <NoWebGPU reason={probe.reason} />}
      {probe.state === 'failed' && <p role="alert" className="error">Opening the WebGPU device failed: {probe.reason}</p>}
      {probe.state === 'ok' && <Playground report={probe.report} />}
    </main>
  );
}

function NoWebGPU({ reason }: { reason: string }) {
  return (
    <section data-testid="no-webgpu" role="alert" className="panel">
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
    <p data-testid="adapter" className="note">
      WebGPU adapter <b>{adapterName(r) || 'unnamed adapter'}</b>
      {r.isFallbackAdapter && ' — a software adapter, about a thousand times slower than a GPU: the tiny model is preselected'}
      {' · '}largest storage buffer {fmt(r.limits.maxStorageBufferBindingSize / 2 ** 20)} MiB
    </p>
  );
}

function Playground({ report }: { report: AdapterReport }) {
  const urlErrors = useStore((s) => s.urlErrors);
  return (
    <>
      <Adapter r={report} />
      {urlErrors.length > 0 && <p role="alert" className="error">The link's configuration had problems (defaults kept): {urlErrors.join('; ')}</p>}
      <div className="layout">
        <aside>
          <Controls />
          <Status />
          <Runs />
          <StoragePanel />
        </aside>
        <div className="views">
          <Views />
        </div>
      </div>
    </>
  );
}

function Status() {
  const { state, stateMessage, info, points, epochs, error, deviceLost } = useStore();
  const last = points.at(-1);
  const lastEpoch = epochs.at(-1);
  return (
    <div className="status">
      <p data-testid="readout" data-state={state} data-step={last?.step ?? info?.step ?? 0} data-losses={points.map((p) => p.loss.toFixed(4)).join(',')}>
        <b>{state}</b>
        {info && ` · step ${fmt(last?.step ?? info.step)}/${fmt(info.totalSteps)}`}
        {last && ` · epoch ${last.epoch.toFixed(2)} · loss ${last.loss.toFixed(4)} · ${fmt(last.imgPerS)} img/s · lr ${last.lr.toExponential(2)}`}
        {lastEpoch && ` · test accuracy ${(100 * lastEpoch.test_acc).toFixed(1)}%`}
      </p>
      {stateMessage && state !== 'error' && <p className="note">{stateMessage}</p>}
      {info && <p className="note">{fmt(info.parameters)} parameters · {info.dataset.name}: {fmt(info.dataset.train)} train / {fmt(info.dataset.test)} test · {info.stepsPerEpoch} steps per epoch</p>}
      {deviceLost && <p role="alert" className="error" data-testid="device-lost">The GPU device was lost ({deviceLost}). A new device was opened and the run resumes from its last checkpoint.</p>}
      {error && <p role="alert" className="error" data-testid="error">{error}</p>}
    </div>
  );
}

function Views() {
  const { snapshot, points, epochs, report, runs, compare, info, smoothingHistory, views, attentionHead, setSample, setAttentionHead } = useStore();
  const current: CurveRun[] = points.length || epochs.length ? [{ name: info ? 'this run' : 'run', points, epochs }] : [];
  const overlaid: CurveRun[] = runs.filter((r) => compare.includes(r.id) && r.id !== info?.runId).map((r) => ({ name: r.name, points: r.points, epochs: r.epochs }));
  const classes = info?.dataset.classes ?? snapshot?.classes ?? [];
  const waiting = <p className="note">Appears once training runs.</p>;
  return (
    <>
      <Section title="Curves" note="Tick runs under Runs to overlay them.">
        <CurvesView runs={[...current, ...overlaid]} />
      </Section>
      <Section title="Mixed batch" view="batch" note={<>What the model sees: each mixed image, its per-token label map (blue own image, orange partner) and the target the loss used.
        TokenMix: the mask's connected parts, each in its colour; MixToken (Token Labeling): the token box where the partner's patch embeddings are swapped in (the images are not mixed);
        teacher methods: the teacher's dense maps of each sample.</>}>
        {snapshot ? <MixedBatchView snapshot={snapshot} /> : waiting}
      </Section>
      <Section title="Token fluctuation" view="fluctuation" note="Each token's share of its own image after every block, propagated through the attention (TL-Align's read-out, computed for every spatial mix); the CLS share ρ against the area ratio λ.">
        {snapshot ? <TokenFluctuationView snapshot={snapshot} sample={views.sample} onSample={setSample} /> : waiting}
      </Section>
      <Section title="Attention" view="attention" note="CLS attention over the patches, per block.">
        {snapshot ? <AttentionView snapshot={snapshot} head={attentionHead} onHead={setAttentionHead} /> : waiting}
      </Section>
      <Section title="Over-smoothing" view="smoothing" note="Mean pairwise cosine similarity of the patch tokens after each block (DiversePatch's metric).">
        {snapshot ? <OverSmoothingView snapshot={snapshot} history={smoothingHistory} /> : waiting}
      </Section>
      <Section title="Test predictions" note="After every epoch, on the test split.">
        {report ? <><ConfusionView report={report} classes={classes} /><PredictionsView report={report} classes={classes} /></> : <p className="note">Appears after the first epoch.</p>}
      </Section>
    </>
  );
}
