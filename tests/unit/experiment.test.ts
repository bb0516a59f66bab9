// `npm run experiment` (src/cli/experiment.ts, experiment-report.ts): the `smoke` budget end to end,
// `--seeds 0` reproducing the seed-0 rows of a two-seed table bit for bit (issue 18), the report's
// sections, and the paired statistics against numbers worked by hand.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import {
  curvesSvg, curvesTitle, methodsOf, overfitCheck, pairedDifference, type RawResults, renderSection, type RunResult, sectionOf, shareGapTable,
} from '../../src/cli/experiment-report.ts';
import { type EpochResult } from '../../src/train/trainer.ts';

const dir = mkdtempSync(join(tmpdir(), 'labelflow-experiment-'));

function experiment(args: string[]) {
  const r = spawnSync(process.execPath, ['scripts/node-ts.mjs', 'src/cli/experiment.ts', ...args], { encoding: 'utf8', timeout: 600_000 });
  assert.equal(r.status, 0, r.stderr);
  return r.stdout;
}

interface Raw { runs: RunResult[]; complete: boolean; command: string }
const raw = (path: string): Raw => JSON.parse(readFileSync(path, 'utf8'));
/** Everything a run learned, without its timings. */
const learned = (r: RunResult) => ({ ...r, img_per_s: 0, seconds: 0, wall_s: 0, epochs: r.epochs.map((e) => ({ ...e, img_per_s: 0, seconds: 0 })) });

test('--seeds 0 reproduces the seed-0 rows of a two-seed table bit for bit; the report has every section', () => {
  const methods = 'none,cutmix-token,tl-align';
  const both = join(dir, 'both', 'results.md');
  const one = join(dir, 'one', 'results.md');
  experiment(['--budget', 'smoke', '--methods', methods, '--seeds', '0,1', '--out', both]);
  experiment(['--budget', 'smoke', '--methods', methods, '--seeds', '0', '--out', one]);
  const a = raw(join(dir, 'both', 'results', 'smoke.json'));
  const b = raw(join(dir, 'one', 'results', 'smoke.json'));
  assert.equal(a.runs.length, 6);
  assert.ok(a.complete && b.complete);
  // seed by seed: every method of seed 0 before seed 1
  assert.deepEqual(a.runs.map((r) => r.seed), [0, 0, 0, 1, 1, 1]);
  for (const r of b.runs) {
    const twin = a.runs.find((x) => x.method === r.method && x.seed === 0)!;
    assert.deepEqual(learned(r), learned(twin), `${r.method} seed 0`);
    assert.ok(r.epochs.every((e) => e.train_acc !== undefined), 'train accuracy every epoch');
  }
  assert.ok(a.runs.filter((r) => r.method !== 'none').every((r) => r.epochs.every((e) => e.cls_share_gap! > 0)), 'spatial methods measure |ρ − λ|');
  assert.ok(a.runs.filter((r) => r.method === 'none').every((r) => r.epochs.every((e) => e.cls_share_gap === undefined)));

  const doc = readFileSync(both, 'utf8');
  for (const part of ['<!-- results:smoke -->', '| method | test acc % (mean ± std)', '**Paired differences**', '`tl-align` − `cutmix-token`',
    '`cutmix-token` − `none`', '**Token fluctuation**', '![learning curves of the smoke budget](results/smoke-curves.svg)', '**Reading.**',
    '`npm run experiment -- --budget smoke --methods none,cutmix-token,tl-align --seeds 0,1`', '<!-- /results:smoke -->']) {
    assert.ok(doc.includes(part), `the report has ${part}`);
  }
  const svg = join(dir, 'both', 'results', 'smoke-curves.svg');
  assert.match(readFileSync(svg, 'utf8'), /^<svg[\s\S]*<polyline[\s\S]*<\/svg>\n$/);

  // --report-only: the same section and curves from the raw results alone
  const curves = readFileSync(svg, 'utf8');
  writeFileSync(both, '# Results\n');
  rmSync(svg);
  experiment(['--budget', 'smoke', '--report-only', '--out', both]);
  assert.equal(sectionOf(readFileSync(both, 'utf8'), 'smoke'), sectionOf(doc, 'smoke'));
  assert.equal(readFileSync(svg, 'utf8'), curves);
});

test('the committed results are what their raw results render to: nothing in docs/results.md is typed by hand', () => {
  const doc = readFileSync('docs/results.md', 'utf8');
  const raws = readdirSync('docs/results').filter((f) => f.endsWith('.json')).map((f) => JSON.parse(readFileSync(join('docs/results', f), 'utf8')) as RawResults)
    .filter((raw) => raw.command !== undefined); // files from before the report was a function of them
  assert.ok(raws.some((raw) => raw.budget === 'overfit-1k'), 'the overfit-1k table is committed');
  for (const raw of raws) {
    const links = { json: `results/${raw.budget}.json`, svg: `results/${raw.budget}-curves.svg` };
    assert.equal(sectionOf(doc, raw.budget), renderSection(raw, links), `docs/results.md's ${raw.budget} section`);
    assert.equal(readFileSync(join('docs', links.svg), 'utf8'), curvesSvg(raw.runs, methodsOf(raw), curvesTitle(raw)), `docs/${links.svg}`);
    assert.equal(raw.complete, true, `${raw.budget}: every planned run`);
  }
});

test('a rerun replaces its own section and leaves the others', () => {
  const out = join(dir, 'keep', 'results.md');
  experiment(['--budget', 'smoke', '--methods', 'none', '--seeds', '3', '--out', out]);
  writeFileSync(out, `${readFileSync(out, 'utf8')}\n<!-- results:other -->\nkept\n<!-- /results:other -->\n`);
  experiment(['--budget', 'smoke', '--methods', 'none', '--seeds', '3', '--out', out]);
  const doc = readFileSync(out, 'utf8');
  assert.equal(doc.split('<!-- results:smoke -->').length, 2);
  assert.ok(doc.includes('kept'));
});

const epochs = (test: number[], train?: number[], gap?: number[]): EpochResult[] => test.map((t, i) => ({
  epoch: i + 1, train_loss: 1, test_loss: 1, test_acc: t, img_per_s: 1, seconds: 1, lr: 1e-3,
  ...(train ? { train_acc: train[i] } : {}), ...(gap ? { cls_share_gap: gap[i] } : {}),
}));
const run = (method: string, seed: number, acc: number, e = epochs([acc])): RunResult =>
  ({ method, seed, final_test_acc: acc, final_train_loss: 1, img_per_s: 1, seconds: 1, epochs: e });

test('paired differences: per seed, mean, sample std and the 95% t interval, worked by hand', () => {
  const runs = [run('a', 0, 0.31), run('a', 1, 0.32), run('a', 2, 0.33), run('b', 0, 0.29), run('b', 1, 0.30), run('b', 2, 0.30), run('b', 7, 0.5)];
  const d = pairedDifference(runs, 'a', 'b')!;
  assert.deepEqual(d.seeds, [0, 1, 2], 'only the seeds both ran');
  const diffs = [0.02, 0.02, 0.03];
  diffs.forEach((x, i) => assert.ok(Math.abs(d.differences[i] - x) < 1e-12));
  const m = 0.07 / 3;
  const sd = Math.sqrt(((0.02 - m) ** 2 * 2 + (0.03 - m) ** 2) / 2);
  assert.ok(Math.abs(d.mean - m) < 1e-12 && Math.abs(d.std - sd) < 1e-12);
  const half = (4.303 * sd) / Math.sqrt(3);
  assert.ok(Math.abs(d.interval[0] - (m - half)) < 1e-12 && Math.abs(d.interval[1] - (m + half)) < 1e-12);
  assert.equal(d.verdict, 'a', 'the interval (+0.9 to +3.8 points) excludes 0');
  assert.equal(pairedDifference(runs, 'b', 'a')!.verdict, 'b');
  const noisy = [run('a', 0, 0.30), run('a', 1, 0.32), run('a', 2, 0.31), run('b', 0, 0.29), run('b', 1, 0.30), run('b', 2, 0.30)];
  assert.equal(pairedDifference(noisy, 'a', 'b')!.verdict, 'unresolved', 'differences 1, 2, 1 points: the interval −0.1 to +2.8 holds 0');
  assert.equal(pairedDifference(runs, 'a', 'missing'), undefined);
});

test('the regime check and the share-gap table read the curves', () => {
  const overfit = [run('none', 0, 0.3, epochs([0.2, 0.3, 0.32, 0.31, 0.30, 0.30, 0.30, 0.30], [0.2, 0.35, 0.5, 0.6, 0.7, 0.8, 0.85, 0.9]))];
  assert.equal(overfitCheck(overfit)!.holds, true);
  const rising = [run('none', 0, 0.4, epochs([0.2, 0.25, 0.3, 0.32, 0.34, 0.36, 0.38, 0.40], [0.2, 0.3, 0.4, 0.5, 0.55, 0.6, 0.65, 0.7]))];
  assert.equal(overfitCheck(rising)!.holds, false, 'test accuracy still rising');
  const close = [run('none', 0, 0.3, epochs([0.2, 0.3, 0.3, 0.3, 0.3, 0.3, 0.3, 0.3], [0.2, 0.3, 0.32, 0.33, 0.34, 0.35, 0.36, 0.37]))];
  assert.equal(overfitCheck(close)!.holds, false, 'train barely above test');
  const gaps = [run('c', 0, 0.3, epochs([0.1, 0.2], undefined, [0.01, 0.03])), run('c', 1, 0.3, epochs([0.1, 0.2], undefined, [0.03, 0.05])), run('none', 0, 0.3)];
  assert.deepEqual(shareGapTable(gaps, ['none', 'c']), ['| epoch | `c` |', '|---|---|', '| 1 | 0.0200 |', '| 2 | 0.0400 |']);
});
