/**
 * Shared by the e2e tests: Debian's Chromium through playwright-core (WebGPU on SwiftShader, see
 * ../shared/docs/webgpu-without-gpu.md), a static file server for a folder, the `vite build` of
 * the playground (once per test file), and temp folders removed after the tests.
 * Chromium missing: tests are skipped locally and fail under CI=true. CHROMIUM_PATH overrides the path.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import { tmpdir } from 'node:os';
import { dirname, extname, join, normalize, resolve } from 'node:path';
import { after } from 'node:test';
import { fileURLToPath } from 'node:url';
import { type BrowserContext, chromium, type Page } from 'playwright-core';

export const ROOT = resolve(fileURLToPath(new URL('../..', import.meta.url)));
export const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';
const HAVE_CHROMIUM = existsSync(CHROMIUM);
export const CI = !!process.env.CI && process.env.CI !== 'false';
export const skip = !HAVE_CHROMIUM && !CI ? `no Chromium at ${CHROMIUM} (apt-get install chromium); under CI=true this fails` : false;

/** Offline, quiet, fresh profile. --disable-gpu is not needed (and not wanted on a real GPU). */
const BASE_ARGS = ['--no-sandbox', '--disable-background-networking', '--disable-component-update', '--disable-sync',
  '--no-first-run', '--disable-quic', '--disable-dev-shm-usage'];
const WEBGPU_ARGS = ['--enable-unsafe-webgpu'];

const cleanups: (() => Promise<void> | void)[] = [];
after(async () => {
  for (const c of cleanups.reverse()) await c();
});

export function tempDir(prefix: string): string {
  const d = mkdtempSync(join(tmpdir(), prefix));
  cleanups.push(() => rmSync(d, { recursive: true, force: true }));
  return d;
}

const TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8', '.js': 'text/javascript', '.mjs': 'text/javascript', '.css': 'text/css',
  '.json': 'application/json', '.png': 'image/png', '.svg': 'image/svg+xml', '.wasm': 'application/wasm', '.ico': 'image/x-icon',
};

/** Serves `dir` at http://127.0.0.1:<ephemeral>/<mount>/ (a secure context, so navigator.gpu exists). */
export async function serve(dir: string, mount = '/'): Promise<string> {
  const server: Server = createServer((req, res) => {
    const path = decodeURIComponent(new URL(req.url ?? '/', 'http://x').pathname);
    let file = path.startsWith(mount) ? normalize(join(dir, path.slice(mount.length))) : '';
    if (file && existsSync(file) && statSync(file).isDirectory()) file = join(file, 'index.html');
    if (!file || !file.startsWith(dir) || !existsSync(file)) { res.writeHead(404).end('not found'); return; }
    res.writeHead(200, { 'content-type': TYPES[extname(file)] ?? 'application/octet-stream', 'cache-control': 'no-store' });
    res.end(readFileSync(file));
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  cleanups.push(() => new Promise<void>((r) => server.close(() => r())));
  const { port } = server.address() as { port: number };
  return `http://127.0.0.1:${port}${mount}`;
}

/** A persistent context (its profile, IndexedDB included, survives reloads of its pages). */
export async function launch(webgpu: boolean, viewport = { width: 900, height: 900 }): Promise<BrowserContext> {
  if (!HAVE_CHROMIUM) throw new Error(`Chromium not found at ${CHROMIUM} (CI=true: failing instead of skipping)`);
  const context = await chromium.launchPersistentContext(tempDir('labelflow-chromium-'), {
    executablePath: CHROMIUM, headless: true, args: [...BASE_ARGS, ...(webgpu ? WEBGPU_ARGS : [])], viewport,
  });
  cleanups.push(() => context.close());
  return context;
}

/** Page errors and console errors, for assertion messages. */
export function watch(page: Page): string[] {
  const log: string[] = [];
  page.on('pageerror', (e) => log.push(`pageerror: ${e.message}`));
  page.on('console', (m) => { if (m.type() === 'error') log.push(`console: ${m.text()}`); });
  return log;
}

let distDir: string | undefined;
/** `vite build` of the playground into a temp dir, once per process. */
export function viteBuild(): string {
  if (distDir) return distDir;
  const out = tempDir('labelflow-dist-');
  const t0 = Date.now();
  const r = spawnSync(process.execPath, [join(ROOT, 'node_modules/vite/bin/vite.js'), 'build', '--outDir', out, '--emptyOutDir', '--logLevel', 'warn'],
    { cwd: ROOT, encoding: 'utf8', env: { ...process.env, NODE_OPTIONS: '' } });
  assert.equal(r.status, 0, `vite build failed:\n${r.stdout}\n${r.stderr}`);
  console.log(`vite build: ${Date.now() - t0} ms`);
  return (distDir = out);
}

/**
 * A measured figure of the page (load times, throughput ratios), merged into
 * test-results/page-figures.json under `id`; `npm run readme:tables` turns that file into the
 * playground's table in docs. Every figure names what measured it.
 */
export interface PageFigure {
  /** What was measured, as the table's row label. */
  label: string;
  value: number;
  /** 's', 'img/s', 'ratio', … */
  unit: string;
  /** The issue's target, as text ("≤ 15 s", "≥ 0.90"), and whether the value met it. */
  target?: string;
  pass?: boolean;
  /** The adapter the page ran on, as the page reports it. */
  adapter: string;
  /** The test file that measured it. */
  command: string;
  detail?: string;
}

export const PAGE_FIGURES = join(ROOT, 'test-results', 'page-figures.json');

export function recordFigure(id: string, figure: PageFigure): void {
  mkdirSync(dirname(PAGE_FIGURES), { recursive: true });
  const all = existsSync(PAGE_FIGURES) ? JSON.parse(readFileSync(PAGE_FIGURES, 'utf8')) as Record<string, PageFigure & { date: string }> : {};
  all[id] = { ...figure, date: new Date().toISOString() };
  writeFileSync(PAGE_FIGURES, JSON.stringify(all, null, 2) + '\n');
  console.log(`figure ${id}: ${figure.label} = ${figure.value} ${figure.unit}${figure.target ? ` (target ${figure.target}: ${figure.pass ? 'PASS' : 'FAIL'})` : ''}`);
}

/**
 * Polls `ok` until it holds. Fails at once when the page shows an element of one of `errorIds`
 * (data-testid) with text, and after `timeoutMs` with what the page says and what it logged.
 */
export async function waitFor(page: Page, what: string, ok: () => Promise<boolean>, timeoutMs: number, log: string[], errorIds: readonly string[] = ['error']) {
  const until = Date.now() + timeoutMs;
  while (!(await ok())) {
    for (const id of errorIds) {
      const error = await page.getByTestId(id).textContent({ timeout: 1 }).catch(() => null);
      if (error) throw new Error(`the page shows an error while waiting for ${what}: ${error}\n${log.join('\n')}`);
    }
    if (Date.now() > until) throw new Error(`timed out after ${timeoutMs / 1000} s waiting for ${what}; page says: ${(await page.textContent('body'))?.slice(0, 1500)}\n${log.join('\n')}`);
    await page.waitForTimeout(100);
  }
}

/** Every file in this origin's OPFS, path → size (read in the page; a string, so the test runner's transform does not touch it). */
export function opfsFiles(page: Page): Promise<Record<string, number>> {
  return page.evaluate(`(async () => {
    const out = {};
    const walk = async (dir, prefix) => {
      for await (const h of dir.values()) {
        if (h.kind === 'file') out[prefix + h.name] = (await h.getFile()).size;
        else await walk(h, prefix + h.name + '/');
      }
    };
    await walk(await navigator.storage.getDirectory(), '');
    return out;
  })()`);
}
