/**
 * `npm run experiment -- --budget <name> [--methods a,b] [--seeds 0,1,2] [--data PATH] [--teacher model.onnx] [--out docs/results.md] [--verbose] [--report-only]`
 * Trains every method × seed at a named budget (same data, model and schedule for all) and writes
 * its report into docs/results.md, between markers of that budget (src/cli/experiment-report.ts:
 * accuracies, paired differences, the CLS share gap |ρ − λ|, learning curves, a generated reading),
 * plus the raw per-run results as JSON and the curves as SVG in results/ beside it. The files are
 * rewritten after every run, seed by seed, so an interrupted table holds whole seeds. The teacher methods get
 * the budget's teacher: trained first on the same training split (method none, its own recipe),
 * exported with the dense head to ONNX and run by onnxruntime-web, unless --teacher gives one.
 */
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { cpus, totalmem } from 'node:os';
import { dirname, join, relative } from 'node:path';
import { loadDataset } from '../data/load-node.ts';
import { adapterName } from '../gpu/device.ts';
import { openNodeGpu } from '../gpu/node.ts';
import { exportVitOnnx } from '../interop/onnx.ts';
import { METHOD_NAMES, methodByName } from '../methods/index.ts';
import { resolveConfig, type TeacherMaps, type TrainConfig, TrainingRun, vitConfigOf } from '../train/trainer.ts';
import { parseArgsOrExit } from './args.ts';
import { curvesSvg, curvesTitle, methodsOf, type RawResults, renderSection, replaceSection, type RunResult, sectionOf } from './experiment-report.ts';
import { teacherMapsFor } from './teacher.ts';

const CIFAR10_JPG = join(process.env.LABELFLOW_CIFAR10 ?? '../shared/datasets/cifar10', 'cifar10-jpg.tar.gz');

interface Budget {
  summary: string;
  data: string;
  trainLimit?: number;
  testLimit?: number;
  config: Partial<TrainConfig>;
  /** The methods it compares unless --methods says (default: all). */
  methods?: string[];
  /** Training images evaluated after every epoch for the train accuracy (default: as many as the test split). */
  trainEval?: number;
  /** How the teacher of tokenmix-teacher and token-labeling is made: method none with this recipe, same data. */
  teacher: { summary: string; config: Partial<TrainConfig> };
}

/**
 * The teachers are trained with `diversepatch-paper`: its patch-wise mixing loss trains the
 * classifier head on every patch token, so the dense head (the classifier on each token) gives
 * meaningful maps. A ViT trained on its CLS token alone does not: its patch tokens through the
 * head are close to uniform (measured: Token Labeling from a `none` teacher stayed at 16% on the
 * synthetic set, where `none` reached 58%).
 */
const TEACHER_TEST = {
  summary: '`test` ViT trained with `diversepatch-paper` for 10 epochs (seed 100)',
  config: { model: 'test', method: 'diversepatch-paper', epochs: 10, seed: 100 },
};

/** Budgets: what every method gets. `ci` is what the software adapter of a 2-core machine can run. */
export const BUDGETS: Record<string, Budget> = {
  ci: {
    summary: "`test` ViT (24k parameters), 5,000 train / 1,000 test CIFAR-10 JPEGs (class-balanced random subsets, subset seed 0), 3 epochs, batch 128: the CI learning test's budget before issue 16",
    data: CIFAR10_JPG, trainLimit: 5000, testLimit: 1000,
    config: { model: 'test', epochs: 3 },
    teacher: TEACHER_TEST,
  },
  smoke: {
    summary: '`test` ViT, 256 / 128 images of the built-in synthetic dataset, 2 epochs, batch 32: a check of the experiment itself (tests/unit/experiment.test.ts), not a result',
    data: 'synthetic', trainLimit: 256, testLimit: 128, config: { model: 'test', epochs: 2, batch: 32 },
    teacher: { summary: '`test` ViT trained with `diversepatch-paper` for 1 epoch (seed 100)', config: { model: 'test', method: 'diversepatch-paper', epochs: 1, batch: 32, seed: 100 } },
  },
  synthetic: {
    summary: '`test` ViT, the built-in synthetic dataset (5,000 train / 1,000 test), 3 epochs, batch 128',
    data: 'synthetic', config: { model: 'test', epochs: 3 },
    teacher: TEACHER_TEST,
  },
  'overfit-1k': {
    summary: 'The `test` ViT widened to the `peer` width at patch 8 (dim 64, 4 blocks, 4 heads, MLP 128: 148k parameters, 4×4 tokens + CLS), ' +
      '1,000 train / 1,000 test CIFAR-10 JPEGs (class-balanced random subsets, subset seed 0), 40 epochs, batch 64: a regime where `none` overfits ' +
      'that a 2-core machine with a software adapter can run (issue 18)',
    data: CIFAR10_JPG, trainLimit: 1000, testLimit: 1000,
    config: { model: 'test', modelOverrides: { dim: 64, depth: 4, heads: 4, mlpDim: 128 }, epochs: 40, batch: 64, lr: 0.002, warmupEpochs: 2, augment: false },
    methods: ['none', 'mixup', 'cutmix', 'cutmix-token', 'mixup-cutmix', 'tl-align'],
    teacher: TEACHER_TEST,
  },
  'small-full': {
    summary: '`small` ViT (811k parameters), full CIFAR-10 (50,000 / 10,000), 100 epochs, batch 128 — for a real GPU',
    data: CIFAR10_JPG, config: { model: 'small', epochs: 100, batch: 128, warmupEpochs: 5 },
    teacher: {
      summary: '`small` ViT trained with `diversepatch-paper` for 100 epochs (seed 100)',
      config: { model: 'small', method: 'diversepatch-paper', epochs: 100, batch: 128, warmupEpochs: 5, seed: 100 },
    },
  },
};

const args = parseArgsOrExit('npm run experiment --', process.argv.slice(2), {
  budget: { type: 'string', value: 'NAME', help: `one of ${Object.keys(BUDGETS).join(', ')}` },
  methods: { type: 'list', help: "methods to compare (default: the budget's, else all)" },
  teacher: { type: 'string', value: 'MODEL.onnx', help: "the teacher methods' teacher (default: train the budget's)" },
  seeds: { type: 'list', help: 'seeds (default 0,1,2)' },
  data: { type: 'string', value: 'PATH', help: "override the budget's dataset path" },
  out: { type: 'string', value: 'docs/results.md', help: 'markdown file to update (default docs/results.md); raw results and the curves go to results/ beside it' },
  verbose: { type: 'boolean', help: 'a line per epoch of every run' },
  'report-only': { type: 'boolean', help: "train nothing: rewrite the budget's section and curves from its raw results (results/<budget>.json beside --out)" },
});

const fail = (message: string): never => {
  console.error(`experiment: ${message}`);
  process.exit(1);
};

const budgetName = args.budget ?? fail(`--budget is required (one of ${Object.keys(BUDGETS).join(', ')})`);
const budget = BUDGETS[budgetName] ?? fail(`unknown budget "${budgetName}" (known: ${Object.keys(BUDGETS).join(', ')})`);
const methods = args.methods ?? budget.methods ?? [...METHOD_NAMES];
for (const m of methods) {
  try {
    methodByName(m);
  } catch (e) {
    fail((e as Error).message);
  }
}
const seeds = (args.seeds ?? ['0', '1', '2']).map(Number);
if (seeds.some((s) => !Number.isInteger(s))) fail(`--seeds must be integers, got ${args.seeds}`);
const out = args.out ?? 'docs/results.md';
const dataPath = args.data ?? budget.data;

const jsonPath = join(dirname(out), 'results', `${budgetName}.json`);
const svgPath = join(dirname(out), 'results', `${budgetName}-curves.svg`);

/** The budget's section of `out` and its curves, from the raw results alone. */
function writeReport(raw: RawResults): void {
  const link = (p: string) => relative(dirname(out), p);
  writeFileSync(svgPath, curvesSvg(raw.runs, methodsOf(raw), curvesTitle(raw)));
  const section = renderSection(raw, { json: link(jsonPath), svg: link(svgPath) });
  const header = '# Results\n\nEvery table here is written by `npm run experiment`; nothing is typed in by hand.\n';
  let doc = existsSync(out) ? readFileSync(out, 'utf8') : header;
  doc = sectionOf(doc, budgetName) !== undefined ? replaceSection(doc, budgetName, section) : `${doc.trimEnd()}\n\n${section}\n`;
  writeFileSync(out, doc);
}

if (args['report-only']) {
  if (!existsSync(jsonPath)) fail(`--report-only: no raw results at ${jsonPath}`);
  writeReport(JSON.parse(readFileSync(jsonPath, 'utf8')) as RawResults);
  console.log(`${sectionOf(readFileSync(out, 'utf8'), budgetName)}\n\n→ ${out}, ${svgPath} (from ${jsonPath})`);
  process.exit(0);
}

const started = performance.now();
const data = await loadDataset(dataPath, { trainLimit: budget.trainLimit, testLimit: budget.testLimit, seed: 0 }).catch((e: Error) => fail(e.message));
console.log(`data: ${data.name}: ${data.train.count} train, ${data.test.count} test`);

let teacher: TeacherMaps | undefined;
let teacherNote = '';
if (methods.some((m) => methodByName(m).teacher)) {
  const vit = vitConfigOf(resolveConfig(budget.config));
  const where = `${data.name} train`;
  if (args.teacher) {
    teacher = await teacherMapsFor(args.teacher, data.train, vit, where).catch((e: Error) => fail(e.message));
    teacherNote = `Teacher of \`tokenmix-teacher\` and \`token-labeling\`: ${args.teacher}.`;
  } else {
    const gpu = await openNodeGpu();
    const run = new TrainingRun(gpu, data, { ...budget.config, ...budget.teacher.config });
    while (run.epoch < run.config.epochs) await run.runEpoch();
    const acc = run.history[run.history.length - 1].test_acc;
    const onnx = join('.cache', 'experiment', `${budgetName}-teacher.onnx`);
    mkdirSync(dirname(onnx), { recursive: true });
    writeFileSync(onnx, exportVitOnnx(run.vit, await run.model.params.read('values'), { dense: true }));
    gpu.device.destroy();
    console.log(`teacher: ${budget.teacher.summary}: test acc ${(100 * acc).toFixed(2)}% → ${onnx}`);
    teacher = await teacherMapsFor(onnx, data.train, vit, where);
    teacherNote = `Teacher of \`tokenmix-teacher\` and \`token-labeling\`: ${budget.teacher.summary} on the same training images (test accuracy ${(100 * acc).toFixed(1)}%), exported with its dense head to ONNX and run by onnxruntime-web (WASM); its maps are computed once.`;
  }
}

const runs: RunResult[] = [];
let adapter = '';
let config: TrainConfig | undefined;
const planned = methods.length * seeds.length;
const trainEval = budget.trainEval ?? Math.min(data.train.count, data.test.count);
const machine = `${cpus().length} × ${cpus()[0]?.model.trim() ?? 'unknown CPU'}, ${Math.round(totalmem() / 2 ** 30)} GiB, ${process.platform} ${process.arch}`;

// Seed by seed, every method: an interrupted table still holds whole seeds, and the files are rewritten after every run.
for (const seed of seeds) {
  for (const method of methods) {
    const runStart = performance.now();
    const gpu = await openNodeGpu();
    adapter = adapterName(gpu.adapter);
    const run = new TrainingRun(gpu, data, { ...budget.config, method, seed }, { teacher, trainEval, measureShareGap: true });
    config = run.config;
    while (run.epoch < run.config.epochs) {
      const e = await run.runEpoch();
      if (args.verbose) {
        console.log(`  ${method} seed ${seed} epoch ${e.epoch}: test ${(100 * e.test_acc).toFixed(2)}%` +
          (e.train_acc !== undefined ? `, train ${(100 * e.train_acc).toFixed(2)}%` : '') + (e.cls_share_gap !== undefined ? `, |ρ−λ| ${e.cls_share_gap.toFixed(4)}` : ''));
      }
    }
    const h = run.history;
    const seconds = h.reduce((n, e) => n + e.seconds, 0);
    const images = h.reduce((n, e) => n + e.img_per_s * e.seconds, 0);
    const last = h[h.length - 1];
    runs.push({
      method, seed, final_test_acc: last.test_acc, final_train_loss: last.train_loss, final_train_acc: last.train_acc,
      img_per_s: images / seconds, seconds, wall_s: (performance.now() - runStart) / 1000, epochs: h,
    });
    console.log(`${method.padEnd(18)} seed ${seed}: test acc ${(100 * last.test_acc).toFixed(2)}%` +
      (last.train_acc !== undefined ? `, train acc ${(100 * last.train_acc).toFixed(2)}%` : '') + `, ${(images / seconds).toFixed(0)} img/s (${runs.length}/${planned})`);
    gpu.device.destroy();
    write();
  }
}

function write(): void {
  const raw: RawResults = {
    budget: budgetName, summary: budget.summary, date: new Date().toISOString().slice(0, 10), adapter, machine, node: process.versions.node,
    command: `npm run experiment -- --budget ${budgetName}` + (args.methods ? ` --methods ${methods.join(',')}` : '') +
      (args.seeds ? ` --seeds ${seeds.join(',')}` : '') + (args.data ? ` --data ${args.data}` : '') + (args.teacher ? ` --teacher ${args.teacher}` : ''),
    methods, seeds, planned, complete: runs.length === planned, minutes: (performance.now() - started) / 60000,
    config: config!, train_eval: trainEval, teacher_note: teacherNote || undefined,
    data: { path: dataPath, train: data.train.count, test: data.test.count }, runs,
  };
  mkdirSync(dirname(jsonPath), { recursive: true });
  writeFileSync(jsonPath, JSON.stringify(raw, null, 2) + '\n');
  writeReport(raw);
}

console.log(`\n${sectionOf(readFileSync(out, 'utf8'), budgetName)}\n\n→ ${out}, ${jsonPath}, ${svgPath}`);
process.exit(0);
