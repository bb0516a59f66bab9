/**
 * The README and docs/: the README stays short (words counted as `wc -w` counts them: every
 * whitespace-separated token of the file, code blocks and the layout included), its first command
 * block is the two commands, every generated table lives in its docs page (scripts/readme-tables.mjs
 * --check), the page's table renders from test-results/page-figures.json, and no relative link or
 * #anchor in README.md or docs/*.md is broken.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, relative, resolve } from 'node:path';
import { after, describe, test } from 'node:test';
import { fileURLToPath } from 'node:url';

const ROOT = resolve(fileURLToPath(new URL('../..', import.meta.url)));
const README_WORD_LIMIT = 1500;
const TABLES_SCRIPT = join(ROOT, 'scripts/readme-tables.mjs');

const markdownFiles = (): string[] => [
  'README.md',
  ...readdirSync(join(ROOT, 'docs')).filter((f) => f.endsWith('.md')).sort().map((f) => `docs/${f}`),
];
const read = (file: string) => readFileSync(join(ROOT, file), 'utf8');

/** The text outside fenced code blocks, with each fenced line blanked (line numbers kept). */
function withoutCodeBlocks(text: string): string {
  let fence: string | undefined;
  return text.split('\n').map((line) => {
    const opening = /^\s*(```+|~~~+)/.exec(line);
    if (fence) {
      if (opening && opening[1][0] === fence[0] && opening[1].length >= fence.length && line.trim() === opening[1]) fence = undefined;
      return '';
    }
    if (opening) { fence = opening[1]; return ''; }
    return line;
  }).join('\n');
}

/** GitHub's heading ids (github-slugger): lowercase, punctuation and symbols dropped, spaces → '-', repeats get -1, -2, … */
function headingAnchors(markdown: string): Set<string> {
  const anchors = new Set<string>();
  const seen = new Map<string, number>();
  for (const line of withoutCodeBlocks(markdown).split('\n')) {
    const heading = /^ {0,3}#{1,6}\s+(.*?)\s*#*\s*$/.exec(line);
    if (heading) {
      const text = heading[1]
        .replace(/!?\[([^\]]*)\]\([^)]*\)/g, '$1')
        .replace(/<[^>]+>/g, '');
      const base = text.toLowerCase().replace(/[^\p{L}\p{M}\p{N}\p{Pc} -]/gu, '').replace(/ /g, '-');
      let slug = base;
      const n = seen.get(base);
      if (n !== undefined) {
        slug = `${base}-${n + 1}`;
        seen.set(base, n + 1);
      } else seen.set(base, 0);
      anchors.add(slug);
    }
    for (const [, id] of line.matchAll(/<a\s+(?:id|name)="([^"]+)"/g)) anchors.add(id);
  }
  return anchors;
}

/** Link targets of a Markdown text outside code: inline links and images, reference definitions, href/src attributes. */
function linkTargets(markdown: string): { line: number; target: string }[] {
  const found: { line: number; target: string }[] = [];
  withoutCodeBlocks(markdown).split('\n').forEach((raw, i) => {
    const line = raw.replace(/(`+)[^`]*?\1/g, '');
    for (const [, target] of line.matchAll(/\]\(\s*<?([^)\s>]+)>?(?:\s+"[^"]*")?\s*\)/g)) found.push({ line: i + 1, target });
    const definition = /^\s{0,3}\[[^\]]+\]:\s*<?(\S+?)>?(?:\s|$)/.exec(line);
    if (definition) found.push({ line: i + 1, target: definition[1] });
    for (const [, target] of line.matchAll(/\b(?:href|src)="([^"]+)"/g)) found.push({ line: i + 1, target });
  });
  return found;
}

/** Each broken relative link of `file` (a path under `root`), as "file:line: target: why". */
function brokenLinks(root: string, file: string, markdown: string): string[] {
  const broken: string[] = [];
  for (const { line, target } of linkTargets(markdown)) {
    if (/^[a-z][a-z0-9+.-]*:/i.test(target)) continue; // http:, https:, mailto:
    const [pathPart, anchor] = target.split('#', 2) as [string, string | undefined];
    const where = `${file}:${line}: ${target}`;
    const path = pathPart ? resolve(root, dirname(file), decodeURIComponent(pathPart)) : resolve(root, file);
    if (relative(root, path).startsWith('..')) { broken.push(`${where}: leaves the repository`); continue; }
    if (!existsSync(path)) { broken.push(`${where}: ${relative(root, path)} does not exist`); continue; }
    if (anchor === undefined) continue;
    if (!path.endsWith('.md') || statSync(path).isDirectory()) { broken.push(`${where}: an anchor into a file that is not Markdown`); continue; }
    const anchors = headingAnchors(readFileSync(path, 'utf8'));
    if (!anchors.has(anchor)) broken.push(`${where}: no heading or anchor "${anchor}" in ${relative(root, path)} (it has: ${[...anchors].join(', ')})`);
  }
  return broken;
}

const temps: string[] = [];
after(() => { for (const d of temps) rmSync(d, { recursive: true, force: true }); });
/** A scratch copy of README.md and docs/*.md, where the tables script can write. */
function docsCopy(): string {
  const dir = mkdtempSync(join(tmpdir(), 'labelflow-docs-'));
  temps.push(dir);
  mkdirSync(join(dir, 'docs'));
  for (const f of markdownFiles()) copyFileSync(join(ROOT, f), join(dir, f));
  return dir;
}
const tablesScript = (cwd: string, ...args: string[]) => spawnSync(process.execPath, [TABLES_SCRIPT, ...args], { cwd, encoding: 'utf8' });

describe('README', () => {
  const readme = read('README.md');

  test(`is at most ${README_WORD_LIMIT} words, counted as wc -w counts them`, () => {
    const words = readme.split(/\s+/).filter(Boolean).length;
    console.log(`README.md: ${words} words (limit ${README_WORD_LIMIT})`);
    assert.ok(words <= README_WORD_LIMIT, `README.md has ${words} words; at most ${README_WORD_LIMIT}: move detail into docs/`);
  });

  test('its first command block is the two commands, and no command comes before it', () => {
    const firstBlock = /^```[^\n]*\n([\s\S]*?)^```/m.exec(readme);
    assert.ok(firstBlock, 'README.md has no fenced code block');
    const commands = firstBlock[1].split('\n').map((l) => l.trim()).filter(Boolean);
    assert.deepEqual(commands, ['npm run playground', 'npm test']);
    const before = readme.slice(0, firstBlock.index);
    const earlier = [...before.matchAll(/`([^`]+)`/g)].map((m) => m[1]).filter((code) => /^(npm|npx|node|bash|git)\b/.test(code));
    assert.deepEqual(earlier, [], `commands before the two commands: ${earlier.join(', ')}`);
  });

  test('holds no generated table but the page figures\' summary: the tables live in docs/', () => {
    const names = [...readme.matchAll(/<!-- table:([\w-]+) -->/g)].map((m) => m[1]);
    assert.deepEqual(names, ['page-summary']);
  });

  test('links the docs pages', () => {
    for (const page of ['docs/engine.md', 'docs/correctness.md', 'docs/performance.md', 'docs/data.md', 'docs/methods.md', 'docs/playground.md', 'docs/cli.md', 'docs/results.md']) {
      assert.ok(readme.includes(`](${page}`), `README.md does not link ${page}`);
    }
  });
});

describe('generated tables', () => {
  test('every table has its markers in its docs page, once, and nowhere else (readme:tables --check)', () => {
    const r = tablesScript(ROOT, '--check');
    assert.equal(r.status, 0, `${r.stdout}\n${r.stderr}`);
    assert.match(r.stdout, /page → docs\/playground\.md/);
  });

  test('--check names a table in the README, and a page that lost its markers', () => {
    const dir = docsCopy();
    writeFileSync(join(dir, 'README.md'), `${read('README.md')}\n<!-- table:bench -->\n<!-- /table:bench -->\n`);
    const engine = readFileSync(join(dir, 'docs/engine.md'), 'utf8').replace(/<!-- \/?table:presets -->\n/g, '');
    writeFileSync(join(dir, 'docs/engine.md'), engine);
    const r = tablesScript(dir, '--check');
    assert.equal(r.status, 1);
    assert.match(r.stderr, /README\.md holds <!-- table:bench --> markers; that table belongs in docs\/performance\.md/);
    assert.match(r.stderr, /docs\/engine\.md must hold <!-- table:presets --> … <!-- \/table:presets --> once; it holds it 0 times/);
  });

  test('--only page renders test-results/page-figures.json into docs/playground.md, and says what is not measured yet', () => {
    const dir = docsCopy();
    const first = tablesScript(dir, '--only', 'page');
    assert.equal(first.status, 0, first.stderr);
    const empty = readFileSync(join(dir, 'docs/playground.md'), 'utf8');
    assert.match(empty, /<!-- table:page -->\nNot measured yet: run `node scripts\/run-tests\.mjs tests\/e2e\/full-size-data\.test\.ts [^`]*`, then `npm run readme:tables -- --only page`\.\n<!-- \/table:page -->/);

    mkdirSync(join(dir, 'test-results'));
    const figures = {
      'load-binary-tarball': { label: 'official binary tarball, pick → first loss', value: 12.3456, unit: 's', target: '≤ 15 s', pass: true,
        adapter: 'google swiftshader', command: 'tests/e2e/full-size-data.test.ts', detail: 'loaded | 9.1 s', date: '2026-12-06T04:00:00.000Z' },
      'page-vs-headless': { label: 'page ÷ bare page, images/s', value: 0.8771, unit: 'ratio', target: '≥ 0.90', pass: false,
        adapter: 'google swiftshader', command: 'tests/e2e/page-throughput.test.ts', date: '2026-12-05T23:00:00.000Z' },
    };
    writeFileSync(join(dir, 'test-results/page-figures.json'), JSON.stringify(figures));
    const second = tablesScript(dir, '--only', 'page');
    assert.equal(second.status, 0, second.stderr);
    const page = readFileSync(join(dir, 'docs/playground.md'), 'utf8');
    const table = /<!-- table:page -->\n([\s\S]*?)\n<!-- \/table:page -->/.exec(page)?.[1] ?? '';
    assert.match(table, /^Written \d{4}-\d\d-\d\d by `npm run readme:tables` from `test-results\/page-figures\.json`/);
    assert.match(table, /\| official binary tarball, pick → first loss \| 12\.3 s \| ≤ 15 s \| pass \| google swiftshader \| `tests\/e2e\/full-size-data\.test\.ts` \| 2026-12-06 \| loaded \\\| 9\.1 s \|/);
    assert.match(table, /\| page ÷ bare page, images\/s \| 0\.877 \| ≥ 0\.90 \| FAIL \| google swiftshader \| `tests\/e2e\/page-throughput\.test\.ts` \| 2026-12-05 \|  \|/);
    assert.ok(table.indexOf('official binary tarball') < table.indexOf('page ÷ bare page'), 'rows in the order of the issue\'s targets');
    assert.match(table, /Not measured yet: `gpu-warm-up`, `load-binary-tarball-cached`, `load-npm-run-data`, `load-npm-run-data-cached`, `load-jpeg-imagefolder` \(`node scripts\/run-tests\.mjs tests\/e2e\/full-size-data\.test\.ts`\); /);
    assert.match(table, /; `load-hub-parquet` \(`node scripts\/run-tests\.mjs tests\/e2e\/hub-download\.test\.ts`\)\.$/);
    // only the page's table changed
    assert.equal(page.replace(/<!-- table:page -->[\s\S]*<!-- \/table:page -->/, ''), empty.replace(/<!-- table:page -->[\s\S]*<!-- \/table:page -->/, ''));
  });

  test('--only page refuses a figure without its adapter, naming it', () => {
    const dir = docsCopy();
    mkdirSync(join(dir, 'test-results'));
    writeFileSync(join(dir, 'test-results/page-figures.json'), JSON.stringify({ 'load-hub-parquet': { label: 'x', value: 1, unit: 's', command: 'c', date: 'd' } }));
    const r = tablesScript(dir, '--only', 'page');
    assert.equal(r.status, 1);
    assert.match(r.stderr, /figure "load-hub-parquet" has no "adapter"/);
  });
});

describe('links in README.md and docs/', () => {
  test('GitHub heading ids: punctuation dropped, code and links as text, repeats numbered', () => {
    const anchors = headingAnchors([
      '# On a GPU machine without network: `npm run gpu:kit`, then `scripts/gpu-check.sh`',
      "## labelflow's kernels: `npm run bench`",
      '## Notes', '## Notes', '### [Linked](x.md) heading', '```', '# not a heading', '```', '<a id="custom"></a>',
    ].join('\n'));
    assert.deepEqual([...anchors].sort(), ['custom', 'labelflows-kernels-npm-run-bench', 'linked-heading', 'notes', 'notes-1',
      'on-a-gpu-machine-without-network-npm-run-gpukit-then-scriptsgpu-checksh'].sort());
  });

  test('the checker finds a missing file, a missing anchor and a link out of the repository', () => {
    const broken = brokenLinks(ROOT, 'docs/x.md', [
      '[a](engine.md#model-presets) [b](nowhere.md) [c](engine.md#no-such-heading) [d](../../outside.md) [e](https://example.org/x#y)',
      '`[f](in-code.md)`', '```', '[g](in-block.md)', '```',
    ].join('\n'));
    assert.equal(broken.length, 3, broken.join('\n'));
    assert.match(broken[0], /nowhere\.md does not exist/);
    assert.match(broken[1], /no heading or anchor "no-such-heading" in docs\/engine\.md/);
    assert.match(broken[2], /leaves the repository/);
  });

  for (const file of markdownFiles()) {
    test(`${file}: every relative link and #anchor resolves`, () => {
      const text = read(file);
      assert.deepEqual(brokenLinks(ROOT, file, text), []);
    });
  }
});
