/**
 * The run's configuration (every field mirrored in the URL), the options of the chosen method and,
 * for a teacher method, the teacher's ONNX file; Train / Pause / Resume / Step / Reset.
 */
import { type ChangeEvent, type DragEvent, type ReactNode, useState } from 'react';
import { skippedLinksNote } from '../data/dataset.ts';
import { HUB_CIFAR10_BASE_URL, HUB_CIFAR10_COUNTS, hubFolderUrl } from '../data/hub-parquet.ts';
import { METHODS } from '../methods/index.ts';
import { PRESETS, type VitConfig } from '../nn/presets.ts';
import { type DatasetKind, type RunConfig } from '../train/protocol.ts';
import { vitConfigOf } from '../train/trainer.ts';
import { type Precision, vitParamSpecs } from '../nn/vit.ts';
import { needsTeacher, TEACHER_CONTROL, useStore } from './store.ts';
import { DatasetCacheNote, TeacherCacheNote } from './StoragePanel.tsx';
import { configProblem } from './url-config.ts';

const fmt = (n: number) => n.toLocaleString('en-US');
const PRESET_NAMES = Object.keys(PRESETS);
const parameterCount = (c: VitConfig) => vitParamSpecs(c, 0).reduce((n, s) => n + s.shape.reduce((a, b) => a * b, 1), 0);

const OVERRIDES: [keyof VitConfig, string][] = [['dim', 'width'], ['depth', 'depth'], ['heads', 'heads'], ['patch', 'patch'], ['mlpDim', 'MLP']];

type NumberInput = (key: keyof RunConfig, label: ReactNode, o?: { min?: number; max?: number; step?: number; optional?: boolean; title?: string }) => ReactNode;

export function Controls() {
  const { config: c, state, setConfig, probe } = useStore();
  const hasF16 = probe.state === 'ok' && probe.report.features.includes('shader-f16');
  const busy = state === 'loading' || state === 'starting' || state === 'running' || state === 'pausing' || state === 'recovering';
  const num: NumberInput = (key, label, o = {}) => (
    <label title={o.title}>{label}
      <input type="number" name={key} min={o.min ?? 0} max={o.max} step={o.step ?? 1} disabled={busy}
        value={(c[key] as number | undefined) ?? ''} placeholder={o.optional ? 'all' : undefined}
        onChange={(e) => setConfig({ [key]: e.target.value === '' && o.optional ? undefined : Number(e.target.value) })} />
    </label>
  );
  const problem = configProblem(c) ?? (c.precision === 'f16' && !hasF16 ? 'precision f16 needs the adapter feature shader-f16, which this adapter does not have' : undefined);
  let vit: VitConfig | undefined;
  let modelError: string | undefined;
  try {
    vit = vitConfigOf(c);
    if (vit.imageSize % vit.patch || vit.dim % vit.heads) modelError = `width ${vit.dim} / ${vit.heads} heads, 32 px / patch ${vit.patch}: both must divide`;
  } catch (e) {
    modelError = (e as Error).message;
  }
  const setOverride = (key: keyof VitConfig, value: string) => {
    const base = PRESETS[c.model as keyof typeof PRESETS] as VitConfig;
    const overrides = { ...(c.modelOverrides ?? {}) };
    if (value === '' || Number(value) === base[key]) delete overrides[key];
    else overrides[key] = Number(value);
    setConfig({ modelOverrides: Object.keys(overrides).length ? overrides : undefined });
  };
  return (
    <form className="controls" onSubmit={(e) => e.preventDefault()}>
      <DatasetControls busy={busy} />
      <fieldset disabled={busy}>
        <legend>Model</legend>
        <label>preset
          <select name="model" value={c.model} onChange={(e) => setConfig({ model: e.target.value, modelOverrides: undefined })}>
            {PRESET_NAMES.map((p) => <option key={p} value={p}>{p} — {fmt(parameterCount(PRESETS[p as keyof typeof PRESETS]))} parameters</option>)}
          </select>
        </label>
        <div className="row">
          {OVERRIDES.map(([key, label]) => (
            <label key={key}>{label}
              <input type="number" name={key} min={1} value={vit?.[key] ?? ''} onChange={(e) => setOverride(key, e.target.value)} />
            </label>
          ))}
        </div>
        {modelError ? <p role="alert" className="error">{modelError}</p> : vit && <p className="note">{fmt(parameterCount(vit))} parameters, {(vit.imageSize / vit.patch) ** 2} patch tokens</p>}
      </fieldset>
      <fieldset disabled={busy}>
        <legend>Training</legend>
        <label>method
          <select name="method" value={c.method} onChange={(e) => setConfig({ method: e.target.value })}>
            {METHODS.map((m) => <option key={m.name} value={m.name} title={m.summary}>{m.name}</option>)}
          </select>
        </label>
        <div className="row">
          {num('lr', 'learning rate', { step: 1e-4 })}
          {num('batch', 'batch', { min: 1 })}
          {num('epochs', 'epochs', { min: 1 })}
          {num('seed', 'seed')}
          <label title="f16: the linear layers' products read f16 copies of the weights and f16 activations and accumulate in f32; f32 master weights, f32 gradients, dynamic loss scaling">precision
            <select name="precision" value={c.precision} onChange={(e) => setConfig({ precision: e.target.value as Precision })}>
              <option value="f32">f32</option>
              <option value="f16" disabled={!hasF16}>f16 mixed{hasF16 ? '' : ' (needs shader-f16)'}</option>
            </select>
          </label>
        </div>
        <div className="row">
          {num('mixupAlpha', 'Mixup α', { step: 0.1 })}
          {num('cutmixAlpha', 'CutMix α', { step: 0.1 })}
          {num('smoothing', 'label smoothing', { step: 0.05 })}
          {num('weightDecay', 'weight decay', { step: 0.01 })}
        </div>
        <MethodOptions num={num} />
      </fieldset>
      {problem && !modelError && <p role="alert" className="error" data-testid="config-error">This configuration cannot be trained: {problem}</p>}
      <Buttons blocked={!!problem} />
    </form>
  );
}

function DatasetControls({ busy }: { busy: boolean }) {
  const { config: c, setConfig, loadFile, datasetProgress: progress, datasetError, datasets } = useStore();
  const [dragging, setDragging] = useState(false);
  const pick = (e: ChangeEvent<HTMLInputElement>) => {
    const f = e.target.files?.[0];
    // Cleared, so picking the same file again (after deleting its cached copy, say) reads it again.
    e.target.value = '';
    if (f) {
      setConfig({ dataset: 'file' });
      loadFile(f);
    }
  };
  const drop = (e: DragEvent) => {
    e.preventDefault();
    setDragging(false);
    const f = e.dataTransfer.files[0];
    if (f) {
      setConfig({ dataset: 'file' });
      loadFile(f);
    }
  };
  const summary = datasets[c.dataset];
  const linksNote = summary && skippedLinksNote(summary);
  return (
    <fieldset disabled={busy} onDragOver={(e) => { e.preventDefault(); setDragging(true); }} onDragLeave={() => setDragging(false)} onDrop={drop}
      className={dragging ? 'dropping' : undefined}>
      <legend>Dataset</legend>
      <label>data
        <select name="dataset" value={c.dataset} onChange={(e) => setConfig({ dataset: e.target.value as DatasetKind })}>
          <option value="synthetic">built-in synthetic shapes (10 classes)</option>
          <option value="cifar10">CIFAR-10 prepared by npm run data</option>
          <option value="file">CIFAR-10 from a file you pick</option>
          <option value="hub">CIFAR-10 downloaded from the Hugging Face Hub</option>
        </select>
      </label>
      <div className="row">
        <label>train images<input type="number" name="trainLimit" min={1} value={c.trainLimit ?? ''} placeholder={c.dataset === 'synthetic' ? '5000' : 'all'}
          onChange={(e) => setConfig({ trainLimit: e.target.value === '' ? undefined : Number(e.target.value) })} /></label>
        <label>test images<input type="number" name="testLimit" min={1} value={c.testLimit ?? ''} placeholder={c.dataset === 'synthetic' ? '1000' : 'all'}
          onChange={(e) => setConfig({ testLimit: e.target.value === '' ? undefined : Number(e.target.value) })} /></label>
      </div>
      {c.dataset === 'file' && (
        <label className="file">CIFAR-10 archive: the official binary <code>cifar-10-binary.tar.gz</code> or an ImageFolder <code>.tar.gz</code> (or drop it here)
          <input type="file" name="archive" accept=".gz,.tgz,application/gzip" onChange={pick} />
        </label>
      )}
      {c.dataset === 'hub' && <HubControls downloaded={!!summary} failed={!!datasetError} />}
      {progress && (
        <div data-testid="dataset-progress">
          <progress max={progress.total || 1} value={progress.done} /> {progress.what}: {fmt(progress.done)}{progress.total ? ` / ${fmt(progress.total)}` : ''}
        </div>
      )}
      {datasetError && <p role="alert" className="error" data-testid="dataset-error">{datasetError}</p>}
      {summary && (
        <p className="note" data-testid="dataset-summary" data-train={summary.train} data-test={summary.test} data-skipped-links={summary.skippedLinks ?? 0}>
          {summary.name}: {fmt(summary.train)} training and {fmt(summary.test)} test images ({summary.source})
          {linksNote && `; ${linksNote}`}
        </p>
      )}
      {c.dataset !== 'synthetic' && <DatasetCacheNote kind={c.dataset} />}
    </fieldset>
  );
}

/** Dataset `hub`: the base URL of the parquet pair (a setting, in the URL) and Download / Retry. Train downloads too when nothing is cached. */
function HubControls({ downloaded, failed }: { downloaded: boolean; failed: boolean }) {
  const { config: c, setConfig, downloadHub, datasetLoading } = useStore();
  const url = c.hubUrl ?? HUB_CIFAR10_BASE_URL;
  let badUrl = false;
  try {
    hubFolderUrl(url);
  } catch {
    badUrl = true;
  }
  return (
    <div data-testid="hub-controls">
      <label className="file">base URL: the Hub's <code>uoft-cs/cifar10</code> or a mirror of its <code>plain_text/</code> parquet files
        <input type="url" name="hubUrl" value={url} spellCheck={false}
          onChange={(e) => setConfig({ hubUrl: e.target.value === HUB_CIFAR10_BASE_URL ? undefined : e.target.value })} />
      </label>
      <button type="button" name="downloadHub" onClick={downloadHub} disabled={badUrl || datasetLoading !== undefined}>{failed ? 'Retry download' : downloaded ? 'Download again' : 'Download CIFAR-10'}</button>
      <p className="note">{fmt(HUB_CIFAR10_COUNTS.train)} training and {fmt(HUB_CIFAR10_COUNTS.test)} test images as PNG files in two parquet files; Train downloads them too when no copy is kept in this browser</p>
    </div>
  );
}

/**
 * The options of the chosen method (src/methods/method.ts MethodOptions; checked like every
 * field, by resolveConfig) and, for a teacher method, the teacher file.
 */
function MethodOptions({ num }: { num: NumberInput }) {
  const { config: c, setConfig } = useStore();
  const choice = <K extends 'tokenmixMask' | 'tokenmixLoss'>(key: K, label: string, options: [RunConfig[K], string][]) => (
    <label>{label}
      <select name={key} value={c[key]} onChange={(e) => setConfig({ [key]: e.target.value })}>
        {options.map(([value, text]) => <option key={value} value={value}>{text}</option>)}
      </select>
    </label>
  );
  const rows: Record<string, ReactNode> = {
    tokenmix: <>
      {choice('tokenmixMask', 'TokenMix mask', [['blocks', 'blocks (several rectangles)'], ['random', 'random tokens']])}
      {num('tokenmixShare', 'partner share', { step: 0.01, max: 1, title: "the partner's share of the tokens, in (0, 1); the code's 0.5 + 1/14" })}
      {choice('tokenmixLoss', 'loss', [['bce', 'BCE (released code)'], ['ce', 'CE, targets normalised']])}
    </>,
    'token-labeling': <>
      {num('tokenLabelWeight', 'token loss β', { step: 0.1, title: 'weight of the per-token loss against the teacher maps (1 in the code, 0.5 in the paper)' })}
      {num('tokenLabelGtWeight', 'ground truth γ', { step: 0.05, max: 1, title: "weight of the ground truth blended into the teacher's pooled CLS label, in [0, 1]" })}
    </>,
    diversepatch: <>
      {num('diversityContrastive', 'contrastive', { step: 0.1, title: 'weight of the 3-way patch contrastive loss' })}
      {num('diversityMixing', 'mixing', { step: 0.1, title: 'weight of the region mixing loss' })}
      {num('diversityWindow', 'window', { step: 2, title: 'side of the local window in tokens, odd; 0 = 7 at 14×14 scaled to the grid' })}
    </>,
    'diversepatch-paper': <>
      {num('diversityCosine', 'cosine', { step: 0.1, title: 'weight of the patch-wise cosine penalty' })}
      {num('diversityContrastive', 'contrastive', { step: 0.1, title: 'weight of the first-vs-last-layer patch contrastive loss' })}
      {num('diversityMixing', 'mixing', { step: 0.1, title: 'weight of the per-token mixing loss' })}
    </>,
  };
  rows['tokenmix-teacher'] = rows.tokenmix;
  const row = rows[c.method];
  return (
    <>
      {row && <div className="row" data-testid="method-options">{row}</div>}
      {needsTeacher(c.method) && <TeacherControl />}
    </>
  );
}

function TeacherControl() {
  const { config: c, teacherFile, teacher, teacherProgress: progress, setTeacherFile } = useStore();
  return (
    <div data-testid="teacher-control">
      <label className="file">teacher (.onnx): a model with dense per-token scores [batch, K, G, G] on the student's token grid — a run's
        "teacher (dense)" download under Runs is one
        <input type="file" name="teacher" accept=".onnx" onChange={(e) => setTeacherFile(e.target.files?.[0])} />
      </label>
      {teacherFile
        ? <p className="note" data-testid="teacher-file">teacher {teacherFile.name} ({fmt(teacherFile.size)} bytes); its maps of the training split are computed once and kept in this browser</p>
        : <p className="note">{c.method} needs a teacher: pick one with {TEACHER_CONTROL} (a resumed run finds its teacher's stored maps without it)</p>}
      {progress && (
        <div data-testid="teacher-progress">
          <progress max={progress.total || 1} value={progress.done} /> {progress.what}: {fmt(progress.done)} / {fmt(progress.total)}
        </div>
      )}
      {teacher && (
        <p className="note" data-testid="teacher-status" data-provider={teacher.provider ?? 'cached'} data-cached={teacher.cached}>
          teacher {teacher.name}: maps of {fmt(teacher.images)} images, {Math.sqrt(teacher.tokens)}×{Math.sqrt(teacher.tokens)} tokens × {teacher.classes} classes,{' '}
          {teacher.cached
            ? 'read from browser storage'
            : `computed in ${teacher.seconds.toFixed(1)} s with ONNX Runtime's ${teacher.provider === 'webgpu' ? 'WebGPU' : 'WASM (CPU)'} execution provider`}
          {teacher.fallback && ` (WebGPU provider not used: ${teacher.fallback})`}
        </p>
      )}
      {teacher && <TeacherCacheNote teacher={teacher} />}
    </div>
  );
}

/** Why Train waits: the dataset being read, with its progress ("loading cifar10-jpg.tar.gz: train images 12,000"). */
function loadingReason(name: string, progress?: { done: number; total: number; what: string }): string {
  if (!progress) return `loading ${name}: starting`;
  return `loading ${name}: ${progress.what} ${fmt(progress.done)}${progress.total ? ` / ${fmt(progress.total)}` : ''}`;
}

function Buttons({ blocked: configBlocked }: { blocked: boolean }) {
  const { state, info, train, pause, resume, step, reset, pauseLatencyMs, datasetLoading, datasetProgress } = useStore();
  const running = state === 'running' || state === 'loading' || state === 'starting' || state === 'recovering';
  const loading = datasetLoading !== undefined ? loadingReason(datasetLoading, datasetProgress) : undefined;
  const blocked = configBlocked || loading !== undefined;
  return (
    <div className="buttons">
      {!running && state !== 'paused' && state !== 'pausing' && <button type="button" onClick={train} disabled={blocked}>Train</button>}
      {loading && !running && <span className="note" data-testid="train-blocked"> {loading}</span>}
      {running && <button type="button" onClick={pause} disabled={state !== 'running'}>Pause</button>}
      {state === 'paused' && <><button type="button" onClick={() => resume()}>Resume</button> <button type="button" onClick={step}>Step</button></>}
      {info && !running && <button type="button" onClick={reset}>Reset</button>}
      {state === 'paused' && <button type="button" onClick={train} disabled={blocked}>New run</button>}
      {pauseLatencyMs !== undefined && <span className="note" data-testid="pause-latency"> paused in {pauseLatencyMs.toFixed(0)} ms</span>}
    </div>
  );
}
