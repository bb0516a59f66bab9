/**
 * `npm run experiment -- --budget <name> [--methods a,b] [--seeds 0,1,2] [--data PATH] [--teacher model.onnx] [--out docs/results.md]`
 * Trains every method × seed at a named budget (same data, model and schedule for all) and writes
 * a markdown table (mean ± std test accuracy, images/s, adapter) into docs/results.md, between
 * markers of that budget, plus the raw per-run results as JSON beside it. The teacher methods get
 * the budget's teacher: trained first on the same training split (method none, its own recipe),
 * exported with the dense head to ONNX and run by onnxruntime-web, unless --teacher gives one.
 */
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { loadDataset } from '../data/load-node.ts';
import { adapterName } from '../gpu/device.ts';
import { openNodeGpu } from '../gpu/node.ts';
import { exportVitOnnx } from '../interop/onnx.ts';
import { METHOD_NAMES, methodByName } from '../methods/index.ts';
import { type EpochResult, resolveConfig, type TeacherMaps, type TrainConfig, TrainingRun, vitConfigOf } from '../train/trainer.ts';
import { parseArgsOrExit } from './args.ts';
import { teacherMapsFor } from './teacher.ts';

const CIFAR10_JPG = join(process.env.LABELFLOW_CIFAR10 ?? '../shared/datasets/cifar10', 'cifar10-jpg.tar.gz');

interface Budget {
  summary: string;
  data: string;
  trainLimit?: number;
  testLimit?: number;
  config: Partial<TrainConfig>;
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
  synthetic: {
    summary: '`test` ViT, the built-in synthetic dataset (5,000 train / 1,000 test), 3 epochs, batch 128',
    data: 'synthetic', config: { model: 'test', epochs: 3 },
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
  methods: { type: 'list', help: 'methods to compare (default: all)' },
  teacher: { type: 'string', value: 'MODEL.onnx', help: "the teacher methods' teacher (default: train the budget's)" },
  seeds: { type: 'list', help: 'seeds (default 0,1,2)' },
  data: { type: 'string', value: 'PATH', help: "override the budget's dataset path" },
  out: { type: 'string', value: 'docs/results.md', help: 'markdown file to update (default docs/results.md)' },
});

const fail = (message: string): never => {
  console.error(`experiment: ${message}`);
  process.exit(1);
};

const budgetName = args.budget ?? fail(`--budget is required (one of ${Object.keys(BUDGETS).join(', ')})`);
const budget = BUDGETS[budgetName] ?? fail(`unknown budget "${budgetName}" (known: ${Object.keys(BUDGETS).join(', ')})`);
const methods = args.methods ?? [...METHOD_NAMES];
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

interface RunResult { method: string; seed: number; final_test_acc: number; final_train_loss: number; img_per_s: number; seconds: number; epochs: EpochResult[] }
const runs: RunResult[] = [];
let adapter = '';
let config: TrainConfig | undefined;
for (const method of methods) {
  for (const seed of seeds) {
    const gpu = await openNodeGpu();
    adapter = adapterName(gpu.adapter);
    const run = new TrainingRun(gpu, data, { ...budget.config, method, seed }, { teacher });
    config = run.config;
    while (run.epoch < run.config.epochs) await run.runEpoch();
    const h = run.history;
    const seconds = h.reduce((n, e) => n + e.seconds, 0);
    const images = h.reduce((n, e) => n + e.img_per_s * e.seconds, 0);
    const last = h[h.length - 1];
    runs.push({ method, seed, final_test_acc: last.test_acc, final_train_loss: last.train_loss, img_per_s: images / seconds, seconds, epochs: h });
    console.log(`${method.padEnd(14)} seed ${seed}: test acc ${(100 * last.test_acc).toFixed(2)}%, ${(images / seconds).toFixed(0)} img/s`);
    gpu.device.destroy();
  }
}

const mean = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / xs.length;
const std = (xs: number[]) => (xs.length < 2 ? 0 : Math.sqrt(xs.reduce((a, x) => a + (x - mean(xs)) ** 2, 0) / (xs.length - 1)));
const pct = (x: number) => (100 * x).toFixed(1);
const date = new Date().toISOString().slice(0, 10);
const minutes = (performance.now() - started) / 60000;
const rows = methods.map((m) => {
  const rs = runs.filter((r) => r.method === m);
  const accs = rs.map((r) => r.final_test_acc);
  return `| \`${m}\` | ${pct(mean(accs))} ± ${pct(std(accs))} | ${accs.map(pct).join(', ')} | ${mean(rs.map((r) => r.final_train_loss)).toFixed(3)} | ${mean(rs.map((r) => r.img_per_s)).toFixed(0)} |`;
});
const jsonPath = join(dirname(out), 'results', `${budgetName}.json`);
const section = [
  `<!-- results:${budgetName} -->`,
  `### Budget \`${budgetName}\``,
  '',
  `${budget.summary}. Learning rate ${config!.lr} (warmup ${config!.warmupEpochs} epoch, cosine to ${config!.minLr}), AdamW weight decay ${config!.weightDecay}, ` +
    `label smoothing ${config!.smoothing}, Mixup α ${config!.mixupAlpha}, CutMix α ${config!.cutmixAlpha}, random crop + flip. Seeds ${seeds.join(', ')}; test accuracy after the last epoch.`,
  '',
  ...(teacherNote ? [teacherNote, ''] : []),
  `Measured ${date} by \`npm run experiment -- --budget ${budgetName}\` on ${adapter}, Node ${process.versions.node}; ${runs.length} runs in ${minutes.toFixed(1)} min. Raw results: [\`${jsonPath.replace(/^docs\//, '')}\`](${jsonPath.replace(/^docs\//, '')}).`,
  '',
  '| method | test acc % (mean ± std) | per seed | final train loss | img/s |',
  '|---|---|---|---|---|',
  ...rows,
  `<!-- /results:${budgetName} -->`,
].join('\n');

mkdirSync(dirname(jsonPath), { recursive: true });
writeFileSync(jsonPath, JSON.stringify({ budget: budgetName, summary: budget.summary, date, adapter, config, data: { path: dataPath, train: data.train.count, test: data.test.count }, runs }, null, 2) + '\n');
const header = '# Results\n\nEvery table here is written by `npm run experiment`; nothing is typed in by hand.\n';
let doc = existsSync(out) ? readFileSync(out, 'utf8') : header;
const marked = new RegExp(`<!-- results:${budgetName} -->[\\s\\S]*?<!-- /results:${budgetName} -->`);
doc = marked.test(doc) ? doc.replace(marked, section) : `${doc.trimEnd()}\n\n${section}\n`;
writeFileSync(out, doc);
console.log(`\n${section}\n\n→ ${out}, ${jsonPath}`);
process.exit(0);
