/**
 * Every run kept in browser storage: resume it, overlay its curves, export it (JSON, CSV, weights,
 * checkpoint, ONNX classifier, ONNX dense teacher), delete it.
 */
import { useStore } from './store.ts';

export function Runs() {
  const { runs, compare, info, state, resume, toggleCompare, exportRun, deleteRun } = useStore();
  const busy = state === 'running' || state === 'loading' || state === 'starting' || state === 'pausing' || state === 'recovering';
  if (!runs.length) return <section className="runs"><h3>Runs</h3><p className="note">Runs are kept in this browser (with their checkpoints) and listed here.</p></section>;
  return (
    <section className="runs" data-testid="runs">
      <h3>Runs</h3>
      <ul>
        {runs.map((r) => {
          const last = r.epochs.at(-1);
          const current = r.id === info?.runId;
          return (
            <li key={r.id} data-testid="run" data-run-id={r.id} data-state={r.state} data-step={r.checkpointStep ?? 0}>
              <label title="overlay its curves">
                <input type="checkbox" checked={compare.includes(r.id) || current} disabled={current} onChange={() => toggleCompare(r.id)} />
                {' '}<b>{r.name}</b>
              </label>
              <span className="note">
                {' '}{current && busy ? state : r.state}{current ? ' (open)' : ''} · saved at step {r.checkpointStep ?? 0}/{r.totalSteps}
                {last && ` · test ${(100 * last.test_acc).toFixed(1)}%`}
                {r.teacher && ` · teacher ${r.teacher.name}`}
                {r.error && ` · ${r.error}`}
                {' · '}{new Date(r.createdAt).toLocaleString()}
              </span>
              <span className="run-actions">
                {r.state !== 'done' && r.checkpointStep !== undefined && !(current && state === 'paused') && (
                  <button type="button" disabled={busy} onClick={() => resume(r.id)}>Resume</button>
                )}
                <button type="button" onClick={() => void exportRun(r.id, 'json')}>JSON</button>
                <button type="button" onClick={() => void exportRun(r.id, 'csv')}>CSV</button>
                <button type="button" disabled={r.checkpointStep === undefined} onClick={() => void exportRun(r.id, 'weights')}>weights</button>
                <button type="button" disabled={r.checkpointStep === undefined} onClick={() => void exportRun(r.id, 'checkpoint')}>checkpoint</button>
                <button type="button" disabled={r.checkpointStep === undefined} onClick={() => void exportRun(r.id, 'onnx')}
                  title="the classifier as ONNX: images [batch, 3, 32, 32] (normalised) → logits [batch, K]">ONNX</button>
                <button type="button" disabled={r.checkpointStep === undefined} onClick={() => void exportRun(r.id, 'onnx-dense')}
                  title="ONNX with per-token scores dense_logits [batch, K, G, G]: a teacher for token-labeling and tokenmix-teacher">teacher (dense)</button>
                <button type="button" disabled={current && busy} onClick={() => void deleteRun(r.id)}>Delete</button>
              </span>
            </li>
          );
        })}
      </ul>
    </section>
  );
}
