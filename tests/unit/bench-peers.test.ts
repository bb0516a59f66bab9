// The acceptance command itself: `npm run bench:peers -- --quick --json out.json` on this machine's
// adapter. It exits 0 only when TF.js and jax-js compute labelflow's loss (≤ 1e-4 relative) on the
// same weights and batch; the report must then hold a timing and matmul figures for every engine,
// the memory figure and TL-Align's overhead.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import type { PeerBenchReport } from '../../src/bench/peers-bench.ts';

test('npm run bench:peers -- --quick: the three engines agree on the loss, then are timed', () => {
  const out = join(mkdtempSync(join(tmpdir(), 'bench-peers-')), 'out.json');
  const r = spawnSync(process.execPath, ['scripts/node-ts.mjs', 'src/cli/bench-peers.ts', '--quick', '--json', out], { encoding: 'utf8' });
  console.log(r.stdout);
  assert.equal(r.status, 0, `bench:peers failed:\n${r.stdout}\n${r.stderr}`);
  assert.match(r.stdout, /^Measured \d{4}-\d\d-\d\d by `npm run bench:peers -- --quick` on /m, 'the tables name the command that made them, less the JSON path');
  const report = JSON.parse(readFileSync(out, 'utf8')) as PeerBenchReport;
  assert.equal(report.ok, true);
  const [p] = report.presets;
  assert.equal(p.preset, 'test');
  assert.deepEqual(p.engines.map((e) => e.engine), ['labelflow', 'tfjs', 'jax']);
  assert.ok(p.referenceLoss !== undefined && p.referenceLoss > 1, 'the float64 reference loss is computed at quick sizes');
  for (const e of p.engines) {
    assert.equal(e.failed, undefined, `${e.engine}: ${e.failed}`);
    assert.ok(e.loss !== undefined && e.lossRel !== undefined && e.lossRel <= 1e-4, `${e.engine}: loss ${e.loss}, rel ${e.lossRel}`);
    assert.ok(e.stepMs! > 0 && e.imagesPerSecond! > 0, `${e.engine}: no timing`);
    assert.deepEqual(e.matmul!.map((m) => m.size), [64, 128]);
    for (const m of e.matmul!) assert.ok(m.gflops > 0 && Number.isFinite(m.gflops), `${e.engine}: matmul ${m.size}`);
    // every engine trains the same model: the second warm-up step's loss (after one AdamW step) is close too
    const lf = p.engines[0].lossAfterStep!;
    assert.ok(Math.abs(e.lossAfterStep! - lf) / lf <= 1e-3, `${e.engine}: loss after one step ${e.lossAfterStep} vs labelflow's ${lf}`);
  }
  assert.ok(p.ratios.tfjs! > 0 && p.ratios.jax! > 0);
  for (const peer of ['tfjs', 'jax'] as const) {
    const [lo, hi] = p.ratioIntervals[peer]!;
    assert.ok(lo <= p.ratios[peer]! && p.ratios[peer]! <= hi, `${peer}: ratio ${p.ratios[peer]} outside its interval [${lo}, ${hi}]`);
  }
  assert.ok(p.memory && p.memory.ratio >= 1, `peak memory below the theoretical minimum? ${JSON.stringify(p.memory)}`);
  assert.ok(p.tlAlign && p.tlAlign.tlAlignMs > 0 && p.tlAlign.cutmixTokenMs > 0);
  assert.ok(p.tlAlign.pairs >= 31 && p.tlAlign.interval[0] <= p.tlAlign.overhead && p.tlAlign.overhead <= p.tlAlign.interval[1], JSON.stringify(p.tlAlign));
  assert.ok(report.targets.some((t) => /TL-Align/.test(t.target)) && report.targets.some((t) => /memory/.test(t.target)));
});

test('an engine whose loss differs by more than 1e-4 is reported as failed and not timed', async () => {
  const { openNodeGpu } = await import('../../src/gpu/node.ts');
  const { benchPreset, runPeerBench } = await import('../../src/bench/peers-bench.ts');
  const { createLabelflowPeer } = await import('../../src/bench/peers/labelflow.ts');
  const report = await runPeerBench({
    openGpu: openNodeGpu, host: 'test', log: () => {},
    peers: {
      // labelflow itself, with its loss read 2e-4 too high: what a wrong peer implementation looks like
      tfjs: async (...args) => {
        const peer = await createLabelflowPeer(await openNodeGpu(), ...args);
        return { ...peer, name: 'off by 2e-4', loss: async () => (await peer.loss()) * (1 + 2e-4) };
      },
    },
  }, {
    presets: [benchPreset('test')], batch: 2, warmup: 2, samples: 1, matmulSizes: [], engines: ['labelflow', 'tfjs', 'jax'],
    labelflowExtras: false, adam: { lr: 1e-3, beta1: 0.9, beta2: 0.999, eps: 1e-8, weightDecay: 0.05 },
  });
  assert.equal(report.ok, false);
  const [lf, off, jax] = report.presets[0].engines;
  assert.ok(lf.stepMs! > 0 && lf.failed === undefined);
  assert.match(off.failed ?? '', /differs from labelflow's .* by 2\.00e-4 relative \(allowed 0\.0001\); not timed/);
  assert.equal(off.stepMs, undefined);
  assert.equal(jax.skipped, 'not available here');
});

test('medianInterval: the distribution-free 95% interval of a median (ranks from the binomial)', async () => {
  const { medianInterval } = await import('../../src/bench/peers-bench.ts');
  const ranks = (n: number) => medianInterval(Array.from({ length: n }, (_, i) => n - i)); // values = ranks, given in reverse
  // P(Bin(31, ½) ≤ 9) = 0.0147 ≤ 2.5% < P(≤ 10) = 0.0354: ranks 10 and 22
  assert.deepEqual(ranks(31), [10, 22]);
  // the textbook n = 100 interval: ranks 40 and 61
  assert.deepEqual(ranks(100), [40, 61]);
  // too few values for 95%: the whole range
  assert.deepEqual(ranks(5), [1, 5]);
});

test('timed rounds: one step per engine per round, the order rotating; an engine that throws leaves the rounds', async () => {
  const { timeInRounds } = await import('../../src/bench/peers-bench.ts');
  type Contender = import('../../src/bench/peers-bench.ts').Contender;
  const calls: string[] = [];
  const fake = (engine: 'labelflow' | 'tfjs' | 'jax', failAt?: number): Contender => {
    let steps = 0;
    return {
      result: { engine },
      ms: [],
      peer: {
        name: engine, loss: async () => 1, matmulMs: async () => 1, dispose: () => {},
        step: async () => {
          steps++;
          calls.push(engine);
          if (steps === failAt) throw new Error(`${engine} broke`);
          return 1 / steps;
        },
      },
    };
  };
  const engines = [fake('labelflow'), fake('tfjs'), fake('jax', 2 + 3)]; // jax throws in its third timed step
  const failed: string[] = [];
  await timeInRounds(engines, { warmup: 2, samples: 4 } as Parameters<typeof timeInRounds>[1], (c, e) => {
    c.result.failed = (e as Error).message;
    failed.push(c.result.engine);
  });
  assert.deepEqual(calls, [
    'labelflow', 'labelflow', 'tfjs', 'tfjs', 'jax', 'jax', // warm-up, engine by engine
    'labelflow', 'tfjs', 'jax', // round 0
    'tfjs', 'jax', 'labelflow', // round 1
    'jax', // round 2: jax first, and it throws
    'labelflow', 'tfjs',
    'tfjs', 'labelflow', // round 3: the two left, rotated
  ]);
  assert.deepEqual(failed, ['jax']);
  assert.equal(engines[2].result.failed, 'jax broke');
  assert.deepEqual(engines.map((c) => c.ms.length), [4, 4, 2]);
  assert.equal(engines[0].result.lossAfterStep, 1 / 2);
});
