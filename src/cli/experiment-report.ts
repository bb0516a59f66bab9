/**
 * What `npm run experiment` writes from its runs: the accuracy table, paired differences between
 * methods on the same seed, the CLS share gap |ρ − λ| per epoch, learning curves (a markdown table
 * and an SVG plot) and a reading generated from the numbers. Pure functions of the raw results.
 */
import { type EpochResult, type TrainConfig } from '../train/trainer.ts';

export interface RunResult {
  method: string;
  seed: number;
  final_test_acc: number;
  final_train_loss: number;
  final_train_acc?: number;
  img_per_s: number;
  /** Training time (the epochs' steps). */
  seconds: number;
  /** The whole run: set-up, training and every evaluation. */
  wall_s?: number;
  epochs: EpochResult[];
}

/** What `npm run experiment` keeps of a budget (results/<budget>.json): the report is a function of it alone. */
export interface RawResults {
  budget: string;
  summary: string;
  date: string;
  adapter: string;
  machine?: string;
  node?: string;
  command?: string;
  /** In the order they ran; older files lack these and the report reads them from the runs. */
  methods?: string[];
  seeds?: number[];
  planned?: number;
  complete?: boolean;
  minutes?: number;
  config: TrainConfig;
  /** Training images behind the train accuracy. */
  train_eval?: number;
  teacher_note?: string;
  data: { path: string; train: number; test: number };
  runs: RunResult[];
}

export const mean = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / xs.length;
/** Sample standard deviation (n − 1); 0 for fewer than two values. */
export const std = (xs: number[]) => (xs.length < 2 ? 0 : Math.sqrt(xs.reduce((a, x) => a + (x - mean(xs)) ** 2, 0) / (xs.length - 1)));
const pct = (x: number) => (100 * x).toFixed(1);
const count = (n: number) => n.toLocaleString('en-US');
const points = (x: number) => `${x >= 0 ? '+' : '−'}${Math.abs(100 * x).toFixed(1)}`;

/** Two-sided 95% quantile of Student's t with `df` degrees of freedom (df ≤ 10 tabulated, then the normal's). */
export function t95(df: number): number {
  const table = [NaN, 12.706, 4.303, 3.182, 2.776, 2.571, 2.447, 2.365, 2.306, 2.262, 2.228];
  return df < table.length ? table[df] : 1.96;
}

export interface PairedDifference {
  a: string;
  b: string;
  seeds: number[];
  /** a − b per seed, in accuracy (0…1). */
  differences: number[];
  mean: number;
  std: number;
  /** 95% t interval of the mean difference ([NaN, NaN] with one seed). */
  interval: [number, number];
  /** 'a' or 'b' when the interval excludes 0, otherwise 'unresolved'. */
  verdict: 'a' | 'b' | 'unresolved';
}

/** a − b in final test accuracy, seed by seed, over the seeds both methods ran. */
export function pairedDifference(runs: RunResult[], a: string, b: string): PairedDifference | undefined {
  const seeds = [...new Set(runs.filter((r) => r.method === a).map((r) => r.seed))]
    .filter((s) => runs.some((r) => r.method === b && r.seed === s)).sort((x, y) => x - y);
  if (!seeds.length) return undefined;
  const acc = (m: string, s: number) => runs.find((r) => r.method === m && r.seed === s)!.final_test_acc;
  const differences = seeds.map((s) => acc(a, s) - acc(b, s));
  const m = mean(differences);
  const sd = std(differences);
  const half = seeds.length > 1 ? (t95(seeds.length - 1) * sd) / Math.sqrt(seeds.length) : NaN;
  const interval: [number, number] = [m - half, m + half];
  const verdict = interval[0] > 0 ? 'a' : interval[1] < 0 ? 'b' : 'unresolved';
  return { a, b, seeds, differences, mean: m, std: sd, interval, verdict };
}

/** Per method and epoch, the mean over seeds of `value` (undefined where no run has it). */
export function curve(runs: RunResult[], method: string, value: (e: EpochResult) => number | undefined): (number | undefined)[] {
  const rs = runs.filter((r) => r.method === method);
  const epochs = Math.max(0, ...rs.map((r) => r.epochs.length));
  return Array.from({ length: epochs }, (_, i) => {
    const xs = rs.map((r) => r.epochs[i] && value(r.epochs[i])).filter((x): x is number => x !== undefined);
    return xs.length ? mean(xs) : undefined;
  });
}

export function accuracyTable(runs: RunResult[], methods: string[]): string[] {
  const rows = methods.filter((m) => runs.some((r) => r.method === m)).map((m) => {
    const rs = runs.filter((r) => r.method === m);
    const accs = rs.map((r) => r.final_test_acc);
    const best = rs.map((r) => Math.max(...r.epochs.map((e) => e.test_acc)));
    const trainAccs = rs.map((r) => r.final_train_acc).filter((x): x is number => x !== undefined);
    const trainAcc = trainAccs.length === rs.length ? `${pct(mean(trainAccs))}` : '—';
    const gap = trainAccs.length === rs.length ? points(mean(trainAccs) - mean(accs)) : '—';
    return `| \`${m}\` | ${pct(mean(accs))} ± ${pct(std(accs))} | ${rs.map((r) => `${pct(r.final_test_acc)}`).join(', ')} | ${pct(mean(best))} | ${trainAcc} | ${gap} | ` +
      `${mean(rs.map((r) => r.final_train_loss)).toFixed(3)} | ${mean(rs.map((r) => r.img_per_s)).toFixed(0)} |`;
  });
  return [
    '| method | test acc % (mean ± std) | per seed (seed order) | best epoch\'s test acc % (mean) | final train acc % (clean) | train − test (points) | final train loss (mixed) | img/s |',
    '|---|---|---|---|---|---|---|---|',
    ...rows,
  ];
}

export function pairedTable(diffs: PairedDifference[]): string[] {
  const fmtInterval = (d: PairedDifference) => (d.seeds.length > 1 ? `${points(d.interval[0])} to ${points(d.interval[1])}` : '—');
  const verdict = (d: PairedDifference) => (d.verdict === 'unresolved' ? 'not resolved (interval contains 0)' : `\`${d.verdict === 'a' ? d.a : d.b}\` higher`);
  return [
    '| difference (test acc, points) | per seed | mean ± std | 95% t interval | verdict |',
    '|---|---|---|---|---|',
    ...diffs.map((d) => `| \`${d.a}\` − \`${d.b}\` | ${d.differences.map(points).join(', ')} | ${points(d.mean)} ± ${(100 * d.std).toFixed(1)} | ${fmtInterval(d)} | ${verdict(d)} |`),
  ];
}

/** mean |ρ − λ| per epoch for every method that measured it (mean over seeds). */
export function shareGapTable(runs: RunResult[], methods: string[]): string[] {
  const measured = methods.filter((m) => runs.some((r) => r.method === m && r.epochs.some((e) => e.cls_share_gap !== undefined)));
  if (!measured.length) return [];
  const curves = measured.map((m) => curve(runs, m, (e) => e.cls_share_gap));
  const epochs = Math.max(...curves.map((c) => c.length));
  return [
    `| epoch | ${measured.map((m) => `\`${m}\``).join(' | ')} |`,
    `|---|${measured.map(() => '---|').join('')}`,
    ...Array.from({ length: epochs }, (_, i) => `| ${i + 1} | ${curves.map((c) => (c[i] === undefined ? '—' : c[i]!.toFixed(4))).join(' | ')} |`),
  ];
}

/** Train (clean) and test accuracy per epoch, mean over seeds. */
export function curvesTable(runs: RunResult[], methods: string[]): string[] {
  const present = methods.filter((m) => runs.some((r) => r.method === m));
  const test = present.map((m) => curve(runs, m, (e) => e.test_acc));
  const train = present.map((m) => curve(runs, m, (e) => e.train_acc));
  const epochs = Math.max(0, ...test.map((c) => c.length));
  const cell = (x: number | undefined) => (x === undefined ? '—' : pct(x));
  return [
    `| epoch | ${present.map((m) => `\`${m}\` test / train`).join(' | ')} |`,
    `|---|${present.map(() => '---|').join('')}`,
    ...Array.from({ length: epochs }, (_, i) => `| ${i + 1} | ${present.map((_, k) => `${cell(test[k][i])} / ${cell(train[k][i])}`).join(' | ')} |`),
  ];
}

const COLORS = ['#444444', '#1f77b4', '#ff7f0e', '#2ca02c', '#9467bd', '#d62728', '#8c564b', '#e377c2', '#17becf', '#bcbd22', '#7f7f7f'];

/** Two panels, test and clean train accuracy per epoch (mean over seeds), one colour per method. */
export function curvesSvg(runs: RunResult[], methods: string[], title: string): string {
  const present = methods.filter((m) => runs.some((r) => r.method === m));
  const panels = [
    { name: 'test accuracy', ys: present.map((m) => curve(runs, m, (e) => e.test_acc)) },
    { name: 'train accuracy (clean training images)', ys: present.map((m) => curve(runs, m, (e) => e.train_acc)) },
  ];
  const epochs = Math.max(1, ...panels.flatMap((p) => p.ys.map((ys) => ys.length)));
  const panelW = 360, gapW = 50, left = 50, legendW = 150, topPad = 48, bottomPad = 40, H = 400;
  const W = left + 2 * panelW + gapW + legendW;
  const out: string[] = [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" viewBox="0 0 ${W} ${H}" font-family="sans-serif" font-size="12">`,
    `<rect width="${W}" height="${H}" fill="white"/>`,
    `<text x="${left}" y="18" font-size="13">${escapeXml(title)}</text>`,
  ];
  panels.forEach((panel, p) => {
    const x0 = left + p * (panelW + gapW);
    const x = (epoch: number) => x0 + ((epoch - 1) / Math.max(1, epochs - 1)) * panelW;
    // Each panel its own range, in whole 5% steps around its data.
    const values = panel.ys.flat().filter((v): v is number => v !== undefined);
    const top = Math.min(1, Math.ceil((Math.max(0.1, ...values) + 0.01) * 20) / 20);
    const bottom = Math.max(0, Math.floor((Math.min(top - 0.05, ...values) - 0.01) * 20) / 20);
    const grid = top - bottom > 0.4 ? 0.1 : 0.05;
    const y = (v: number) => topPad + (1 - (v - bottom) / (top - bottom)) * (H - topPad - bottomPad);
    out.push(`<text x="${x0}" y="${topPad - 10}" font-weight="bold">${escapeXml(panel.name)}</text>`);
    for (let v = Math.ceil(bottom / grid - 1e-9) * grid; v <= top + 1e-9; v += grid) {
      out.push(`<line x1="${x0}" x2="${x0 + panelW}" y1="${y(v).toFixed(1)}" y2="${y(v).toFixed(1)}" stroke="#e5e5e5"/>`,
        `<text x="${x0 - 6}" y="${(y(v) + 4).toFixed(1)}" text-anchor="end">${Math.round(100 * v)}%</text>`);
    }
    const tick = Math.max(1, Math.ceil(epochs / 8));
    for (let e = 1; e <= epochs; e += tick) out.push(`<text x="${x(e).toFixed(1)}" y="${H - bottomPad + 16}" text-anchor="middle">${e}</text>`);
    out.push(`<text x="${(x0 + panelW / 2).toFixed(0)}" y="${H - 8}" text-anchor="middle">epoch</text>`);
    panel.ys.forEach((ys, k) => {
      const pts = ys.map((v, i) => (v === undefined ? undefined : `${x(i + 1).toFixed(1)},${y(v).toFixed(1)}`)).filter(Boolean);
      if (pts.length) out.push(`<polyline fill="none" stroke="${COLORS[k % COLORS.length]}" stroke-width="1.6" points="${pts.join(' ')}"/>`);
    });
  });
  const lx = left + 2 * panelW + gapW + 16;
  present.forEach((m, k) => {
    const ly = topPad + 10 + k * 18;
    out.push(`<line x1="${lx}" x2="${lx + 24}" y1="${ly}" y2="${ly}" stroke="${COLORS[k % COLORS.length]}" stroke-width="2"/>`,
      `<text x="${lx + 30}" y="${ly + 4}">${escapeXml(m)}</text>`);
  });
  out.push('</svg>');
  return out.join('\n') + '\n';
}

function escapeXml(s: string): string {
  return s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
}

/**
 * Whether the baseline overfits: clean train accuracy ≥ 10 points over test at the end, and test
 * accuracy flat or falling late: its mean over the last quarter of the epochs at most 1 point over
 * its mean in the quarter before (windows, because one epoch's accuracy on 1,000 test images moves by ±1.4 points).
 */
export function overfitCheck(runs: RunResult[], method = 'none'): { holds: boolean; text: string } | undefined {
  const test = curve(runs, method, (e) => e.test_acc);
  const train = curve(runs, method, (e) => e.train_acc);
  const n = test.length;
  if (n < 8 || train[n - 1] === undefined || test.some((x) => x === undefined)) return undefined;
  const acc = test as number[];
  const quarter = Math.floor(n / 4);
  const last = mean(acc.slice(n - quarter));
  const before = mean(acc.slice(n - 2 * quarter, n - quarter));
  const best = Math.max(...acc);
  const gap = train[n - 1]! - acc[n - 1];
  const holds = gap >= 0.1 && last - before <= 0.01;
  return {
    holds,
    text: `\`${method}\` ends with clean train accuracy ${pct(train[n - 1]!)}% against test ${pct(acc[n - 1])}% (${points(gap)} points); ` +
      `its test accuracy peaks at ${pct(best)}% in epoch ${acc.indexOf(best) + 1}, and its mean over epochs ${n - quarter + 1}–${n} is ${pct(last)}% against ${pct(before)}% over epochs ${n - 2 * quarter + 1}–${n - quarter}. ` +
      `Criterion (train − test ≥ 10 points at the end; test accuracy's mean over the last quarter of the epochs at most 1 point above the quarter before): ${holds ? 'holds' : 'does not hold'}.`,
  };
}

/** Two sentences generated from the numbers: the claim's sign, and the gap the area target leaves. */
export function reading(runs: RunResult[], tlVsToken?: PairedDifference, tokenVsNone?: PairedDifference): string {
  const first = tlVsToken
    ? `Over ${tlVsToken.seeds.length} paired seed${tlVsToken.seeds.length > 1 ? 's' : ''}, \`tl-align\` − \`cutmix-token\` is ${points(tlVsToken.mean)} points ` +
      `(higher on ${tlVsToken.differences.filter((d) => d > 0).length} of ${tlVsToken.seeds.length} seeds; ` +
      `${tlVsToken.seeds.length > 1 ? `95% interval ${points(tlVsToken.interval[0])} to ${points(tlVsToken.interval[1])}` : 'one seed, no interval'}), so TL-Align's published gain is ` +
      `${tlVsToken.verdict === 'a' ? 'reproduced in sign' : tlVsToken.verdict === 'b' ? 'refuted at this budget (TL-Align is lower)' : 'not resolvable at this budget'}` +
      (tokenVsNone ? `, and token CutMix itself is ${points(tokenVsNone.mean)} points against no mixing (${tokenVsNone.verdict === 'unresolved' ? 'not resolved' : tokenVsNone.verdict === 'a' ? 'a resolved gain' : 'a resolved loss'}).` : '.')
    : 'The budget did not run both `tl-align` and `cutmix-token`, so the claim is not tested here.';
  const gap = curve(runs, 'cutmix-token', (e) => e.cls_share_gap).filter((x): x is number => x !== undefined);
  const second = gap.length
    ? `The area target of \`cutmix-token\` misses the CLS token's attention-propagated share by a mean |ρ − λ| of ${gap[0].toFixed(4)} in epoch 1 and ` +
      `${gap[gap.length - 1].toFixed(4)} in the last epoch (mean over its batches and seeds): the token fluctuation TL-Align corrects, in this model's terms.`
    : 'The share gap |ρ − λ| was not measured for `cutmix-token` here.';
  return `${first} ${second}`;
}

const unique = <T>(xs: T[]) => [...new Set(xs)];
export const methodsOf = (raw: RawResults) => raw.methods ?? unique(raw.runs.map((r) => r.method));
export const seedsOf = (raw: RawResults) => raw.seeds ?? unique(raw.runs.map((r) => r.seed));

export function curvesTitle(raw: RawResults): string {
  return `Budget ${raw.budget}: accuracy per epoch, mean over seeds ${seedsOf(raw).join(', ')}`;
}

const sectionPattern = (budget: string) => new RegExp(`<!-- results:${budget} -->[\\s\\S]*?<!-- /results:${budget} -->`);

/** The budget's marked section of a results document, markers included (undefined: none). */
export function sectionOf(doc: string, budget: string): string | undefined {
  return doc.match(sectionPattern(budget))?.[0];
}

export function replaceSection(doc: string, budget: string, section: string): string {
  return doc.replace(sectionPattern(budget), () => section);
}

/** The budget's section of docs/results.md; `links` are the raw results' and the curves' paths relative to the document. */
export function renderSection(raw: RawResults, links: { json: string; svg: string }): string {
  const { runs, config: c, budget } = raw;
  const methods = methodsOf(raw);
  const seeds = seedsOf(raw);
  const planned = raw.planned ?? methods.length * seeds.length;
  const tlVsToken = pairedDifference(runs, 'tl-align', 'cutmix-token');
  const tokenVsNone = pairedDifference(runs, 'cutmix-token', 'none');
  const diffs = [tlVsToken, tokenVsNone, pairedDifference(runs, 'tl-align', 'none'), pairedDifference(runs, 'cutmix-token', 'cutmix')]
    .filter((d): d is PairedDifference => !!d);
  const overfit = overfitCheck(runs);
  const gapRows = shareGapTable(runs, methods);
  const trainEval = raw.train_eval;
  const where = [
    raw.adapter, raw.node ? `Node ${raw.node}` : undefined, raw.machine ? `a machine with ${raw.machine}` : undefined,
  ].filter(Boolean).join(', ');
  return [
    `<!-- results:${budget} -->`,
    `### Budget \`${budget}\``,
    '',
    `${raw.summary}. Learning rate ${c.lr} (warmup ${c.warmupEpochs} epoch${c.warmupEpochs === 1 ? '' : 's'}, cosine to ${c.minLr}), AdamW weight decay ${c.weightDecay}, ` +
      `label smoothing ${c.smoothing}, Mixup α ${c.mixupAlpha}, CutMix α ${c.cutmixAlpha}, ${c.augment ? 'random crop + flip' : 'no crop or flip'}. Seeds ${seeds.join(', ')}; test accuracy after the last epoch.`,
    '',
    ...(raw.teacher_note ? [raw.teacher_note, ''] : []),
    `Measured ${raw.date} by \`${raw.command ?? `npm run experiment -- --budget ${budget}`}\` on ${where}; ` +
      `${runs.length === planned ? `${runs.length} run${runs.length === 1 ? '' : 's'}` : `**${runs.length} of ${planned} runs so far**`}` +
      `${raw.minutes !== undefined ? ` in ${raw.minutes.toFixed(1)} min` : ''}. Raw results: [\`${links.json}\`](${links.json}).`,
    '',
    ...accuracyTable(runs, methods),
    ...(trainEval !== undefined
      ? ['', `Train accuracy is measured after each epoch on ${trainEval === raw.data.train ? `all ${count(trainEval)}` : `${count(trainEval)} of the ${count(raw.data.train)}`} training images, clean (no crop, flip or mixing), ` +
        'like the test accuracy; the train loss is the mean loss of the last epoch\'s (mixed) steps.']
      : []),
    ...(diffs.length ? ['', '**Paired differences** (same seed, same data and subset; 95% t interval over the seeds):', '', ...pairedTable(diffs)] : []),
    ...(gapRows.length
      ? ['', '**Token fluctuation**: mean |ρ − λ| per epoch, ρ the CLS token\'s own-image share propagated through every block\'s attention (TL-Align\'s rule), ' +
        'λ the area share that CutMix\'s target uses; mean over the epoch\'s spatially mixed batches and the seeds.', '', ...gapRows]
      : []),
    '',
    '**Learning curves** (mean over seeds):',
    '',
    `![learning curves of the ${budget} budget](${links.svg})`,
    '',
    '<details><summary>Per epoch: test / train accuracy %, mean over seeds</summary>',
    '',
    ...curvesTable(runs, methods),
    '',
    '</details>',
    '',
    ...(overfit ? [`**Regime check.** ${overfit.text}`, ''] : []),
    `**Reading.** ${reading(runs, tlVsToken, tokenVsNone)}`,
    `<!-- /results:${budget} -->`,
  ].join('\n');
}
