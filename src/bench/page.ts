/**
 * bench.html: `npm run bench:peers` in the browser, on the page's own WebGPU adapter. The peers are
 * loaded only when the run starts (their own chunks). `?autorun` starts at once (the e2e test).
 */
import { adapterName, openDevice } from '../gpu/device.ts';
import { Gpu } from '../gpu/gpu.ts';
import { benchPreset, type EngineName, ENGINES, type PeerBenchOptions, type PeerBenchReport, reportTables, runPeerBench } from './peers-bench.ts';
import { loadTfjsWebgpu } from './peers/load-tfjs-webgpu.ts';

declare global {
  interface Window { __bench?: PeerBenchReport; __benchError?: string }
}

const $ = <T extends HTMLElement>(id: string) => document.getElementById(id) as T;

function optionsFromUrl(q: URLSearchParams): PeerBenchOptions {
  const quick = q.has('quick');
  const list = (k: string, fallback: string[]) => (q.get(k)?.split(',').filter(Boolean) ?? fallback);
  const int = (k: string, fallback: number) => {
    const v = q.get(k);
    if (v === null) return fallback;
    const n = Number(v);
    if (!Number.isInteger(n) || n < 1) throw new Error(`${k}=${v} is not a positive integer`);
    return n;
  };
  const engines = list('engines', ENGINES) as EngineName[];
  for (const e of engines) if (!ENGINES.includes(e)) throw new Error(`engines: "${e}" is not one of ${ENGINES.join(', ')}`);
  if (engines[0] !== 'labelflow') throw new Error('engines: labelflow must come first (the baseline)');
  const peak = q.get('peak-gflops');
  return {
    presets: list('presets', quick ? ['test'] : ['small', 'base']).map(benchPreset),
    batch: int('batch', quick ? 8 : 128),
    warmup: Math.max(2, int('warmup', 2)),
    samples: int('samples', quick ? 2 : 5),
    matmulSizes: list('sizes', quick ? ['64', '128'] : ['256', '512', '1024', '2048']).map(Number),
    engines,
    peakGflops: peak ? Number(peak) : undefined,
    labelflowExtras: !q.has('no-extras'),
    adam: { lr: 1e-3, beta1: 0.9, beta2: 0.999, eps: 1e-8, weightDecay: 0.05 },
  };
}

async function run(): Promise<void> {
  const log = $('log');
  const say = (line: string) => { log.textContent += `${line}\n`; };
  const options = optionsFromUrl(new URLSearchParams(location.search));
  const openGpu = async () => {
    const { device, report } = await openDevice(navigator.gpu);
    return new Gpu(device, report);
  };
  const probe = await openGpu();
  const host = `${adapterName(probe.adapter)}${probe.adapter.isFallbackAdapter ? ' [software]' : ''}; ${navigator.userAgent}`;
  probe.device.destroy();
  say(`bench:peers on ${host}`);
  const report = await runPeerBench({
    openGpu, host, log: say,
    peers: {
      tfjs: async (...args) => (await import('./peers/tfjs.ts')).createTfjsPeer(await loadTfjsWebgpu(), ...args),
      jax: async (...args) => (await import('./peers/jaxjs.ts')).createJaxPeer(...args),
    },
  }, options);
  say(report.ok ? 'done' : 'an engine failed or computed a different loss (see above)');
  $('tables').innerHTML = markdownTablesToHtml(`Measured ${report.date.slice(0, 10)} on ${host}\n\n${reportTables(report)}`);
  const a = $<HTMLAnchorElement>('download');
  a.href = URL.createObjectURL(new Blob([JSON.stringify(report, null, 2)], { type: 'application/json' }));
  a.hidden = false;
  window.__bench = report;
}

/** The report's Markdown tables as HTML tables (cells are our own text, escaped anyway). */
function markdownTablesToHtml(md: string): string {
  const esc = (s: string) => s.replace(/&/g, '&amp;').replace(/</g, '&lt;');
  const out: string[] = [];
  for (const block of md.split('\n\n')) {
    const rows = block.split('\n').filter((l) => !/^\|[-|]+\|$/.test(l));
    if (!rows[0]?.startsWith('|')) { out.push(`<p>${esc(block)}</p>`); continue; }
    const cells = (l: string) => l.slice(1, -1).split('|').map((c) => esc(c.trim()));
    out.push(`<table><thead><tr>${cells(rows[0]).map((c) => `<th>${c}</th>`).join('')}</tr></thead><tbody>${
      rows.slice(1).map((r) => `<tr>${cells(r).map((c) => `<td>${c}</td>`).join('')}</tr>`).join('')}</tbody></table>`);
  }
  return out.join('\n');
}

function start(): void {
  $<HTMLButtonElement>('start').disabled = true;
  run().catch((e: unknown) => {
    window.__benchError = e instanceof Error ? `${e.name}: ${e.message}` : String(e);
    $('log').textContent += `error: ${window.__benchError}\n`;
  }).finally(() => { $<HTMLButtonElement>('start').disabled = false; });
}

$('start').addEventListener('click', start);
if (new URLSearchParams(location.search).has('autorun')) start();
