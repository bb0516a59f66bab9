// `npm run readme:tables`: reruns the project's own measurements and writes each generated table into
// the docs page where it belongs, between <!-- table:NAME --> and <!-- /table:NAME --> markers, with its
// date, adapter and the command that made it. Run from the repository root.
//   --only NAME,NAME  regenerate only these tables. `page` is then rendered from the existing
//                     test-results/page-figures.json; only a full run runs the page's e2e tests first.
//   --check           measure nothing, write nothing: each table's markers are in its page, once,
//                     and in no other page (README.md included); exits 1 naming each problem.
import { spawnSync } from 'node:child_process';
import { existsSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';

/** Each generated table and the page that holds it. */
const TABLE_PAGES = {
  presets: 'docs/engine.md',
  gradcheck: 'docs/correctness.md',
  peers: 'docs/performance.md',
  'peers-presets': 'docs/performance.md',
  'peers-swiftshader': 'docs/performance.md',
  bench: 'docs/performance.md',
  page: 'docs/playground.md',
  // The README's one-paragraph summary of the same figures (load times, page vs bare page)
  'page-summary': 'README.md',
};

// Chromium's software adapter, which the bench page gets where there is no GPU (Debian's package)
const SWIFTSHADER_ICD = '/usr/lib/chromium/vk_swiftshader_icd.json';

/** Written by the e2e tests through recordFigure (tests/e2e/helpers.ts). */
const PAGE_FIGURES = 'test-results/page-figures.json';
/** The e2e tests that record the page's figures, and the figures each records, in table order. */
const PAGE_FIGURE_TESTS = {
  'tests/e2e/full-size-data.test.ts': ['gpu-warm-up', 'load-binary-tarball', 'load-binary-tarball-cached', 'load-npm-run-data', 'load-npm-run-data-cached', 'load-jpeg-imagefolder'],
  'tests/e2e/hub-download.test.ts': ['load-hub-parquet'],
  'tests/e2e/page-throughput.test.ts': ['page-vs-headless'],
};
const PAGE_TESTS_COMMAND = `node scripts/run-tests.mjs ${Object.keys(PAGE_FIGURE_TESTS).join(' ')}`;

const date = new Date().toISOString().slice(0, 10);

const markerPattern = (name) => new RegExp(`<!-- table:${name} -->[\\s\\S]*?<!-- /table:${name} -->`, 'g');

/** Markdown files that may hold tables: README.md and docs/*.md. */
function markdownPages() {
  const docs = existsSync('docs') ? readdirSync('docs').filter((f) => f.endsWith('.md')).sort().map((f) => `docs/${f}`) : [];
  return ['README.md', ...docs].filter((p) => existsSync(p));
}

/** Every problem with the markers: a table missing from its page or present twice, in another page, or unknown. */
function markerProblems() {
  const problems = [];
  for (const page of markdownPages()) {
    const text = readFileSync(page, 'utf8');
    for (const [, name] of text.matchAll(/<!-- table:([\w-]+) -->/g)) {
      if (!(name in TABLE_PAGES)) problems.push(`${page} has markers of an unknown table "${name}" (known: ${Object.keys(TABLE_PAGES).join(', ')})`);
    }
    for (const [name, home] of Object.entries(TABLE_PAGES)) {
      const count = (text.match(markerPattern(name)) ?? []).length;
      if (page === home && count !== 1) problems.push(`${page} must hold <!-- table:${name} --> … <!-- /table:${name} --> once; it holds it ${count} times`);
      if (page !== home && count > 0) problems.push(`${page} holds <!-- table:${name} --> markers; that table belongs in ${home}`);
    }
  }
  for (const [name, home] of Object.entries(TABLE_PAGES)) {
    if (!existsSync(home)) problems.push(`${home} (the page of table "${name}") does not exist`);
  }
  return problems;
}

function writeTables(tables) {
  for (const [name, body] of Object.entries(tables)) {
    const page = TABLE_PAGES[name];
    const text = readFileSync(page, 'utf8');
    if (!markerPattern(name).test(text)) throw new Error(`${page} has no <!-- table:${name} --> … <!-- /table:${name} --> markers`);
    writeFileSync(page, text.replace(markerPattern(name), () => `<!-- table:${name} -->\n${body}\n<!-- /table:${name} -->`));
    console.log(`${page}: table ${name} written`);
  }
}

const run = (args, env = {}) => {
  const r = spawnSync(process.execPath, ['scripts/node-ts.mjs', ...args], { encoding: 'utf8', maxBuffer: 1 << 26, env: { ...process.env, ...env } });
  if (r.status !== 0) throw new Error(`${args.join(' ')} failed (exit ${r.status}):\n${r.stdout}\n${r.stderr}`);
  return r.stdout;
};
const between = (text, from, to) => {
  const lines = text.split('\n');
  const a = lines.findIndex((l) => from.test(l));
  const b = lines.findIndex((l, i) => i > a && to.test(l));
  if (a < 0) throw new Error(`no line matching ${from} in:\n${text}`);
  return lines.slice(a, b < 0 ? undefined : b).join('\n').trim();
};
const adapterOf = (output) => {
  const line = output.split('\n').find((l) => l.startsWith('adapter:'));
  if (!line) throw new Error(`no "adapter:" line in:\n${output}`);
  return line.replace(/^adapter:\s*/, '').replace(/\s*\[fallback\/software\]$/, '');
};
const peersTablesOf = (output, what) => {
  const at = output.search(/^Measured .* by `npm run bench:peers/m);
  if (at < 0) throw new Error(`bench:peers ${what} printed no tables:\n${output}`);
  return output.slice(at).trim();
};

const measure = {
  presets: () => run(['src/cli/presets.ts']).trim(),
  gradcheck: () => {
    const out = run(['src/cli/gradcheck.ts']);
    const table = between(out, /^\| op \|/, /^$/);
    const wholeModel = between(out, /^finite differences/, /^gradcheck:/);
    return `Measured ${date} by \`npm run gradcheck\` on ${adapterOf(out)}, Node ${process.versions.node}:\n\n${table}\n\n${wholeModel}`;
  },
  bench: () => {
    const out = run(['src/cli/bench.ts', '--quick']);
    return `Measured ${date} by \`npm run bench -- --quick\` on ${adapterOf(out)}, Node ${process.versions.node}:\n\n\`\`\`\n${between(out, /^matmul/, /^notes:/)}\n\`\`\``;
  },
  peers: () => peersTablesOf(run(['src/cli/bench-peers.ts', '--quick']), '--quick'),
  // The issue's own presets at a batch a software adapter can take (about 10 minutes on 2 cores)
  'peers-presets': () => {
    const args = ['--presets', 'small,base', '--batch', '8', '--samples', '3', '--sizes', '256'];
    return peersTablesOf(run(['src/cli/bench-peers.ts', ...args]), args.join(' '));
  },
  'peers-swiftshader': () => {
    if (!existsSync(SWIFTSHADER_ICD)) return `Not measured: ${SWIFTSHADER_ICD} was not found when \`npm run readme:tables\` ran (${date}).`;
    const tables = peersTablesOf(run(['src/cli/bench-peers.ts', '--quick', '--no-extras'], { VK_ICD_FILENAMES: SWIFTSHADER_ICD }), '--quick --no-extras (SwiftShader)');
    return tables.replace('`npm run bench:peers', `\`VK_ICD_FILENAMES=${SWIFTSHADER_ICD} npm run bench:peers`);
  },
  page: () => pageTable(),
  'page-summary': () => pageSummary(),
};

/** Runs the e2e tests that record the page's figures; those not in this checkout are named and skipped. */
function runPageTests() {
  const present = Object.keys(PAGE_FIGURE_TESTS).filter((f) => existsSync(f));
  for (const f of Object.keys(PAGE_FIGURE_TESTS)) if (!present.includes(f)) console.log(`page figures: ${f} is not in this checkout; skipped`);
  if (!present.length) return true;
  console.log(`page figures: node scripts/run-tests.mjs ${present.join(' ')}`);
  const r = spawnSync(process.execPath, ['scripts/run-tests.mjs', ...present], { stdio: 'inherit' });
  if (r.status !== 0) console.error(`page figures: the e2e tests failed (exit ${r.status}); the table shows what they recorded, each row with its date`);
  return r.status === 0;
}

const cell = (text) => String(text).replace(/\|/g, '\\|').replace(/\n/g, ' ');
const formatValue = (value, unit) => {
  if (typeof value !== 'number' || !Number.isFinite(value)) return String(value);
  const number = Math.abs(value) >= 100 ? value.toFixed(0) : String(Number(value.toPrecision(3)));
  return unit === 'ratio' || unit === '' ? number : `${number} ${unit}`;
};

/** The page's figures as a table; figures not recorded yet are named with the test that records them. */
function pageTable() {
  const notYet = `Not measured yet: run \`${PAGE_TESTS_COMMAND}\`, then \`npm run readme:tables -- --only page\`.`;
  if (!existsSync(PAGE_FIGURES)) return notYet;
  let figures;
  try {
    figures = JSON.parse(readFileSync(PAGE_FIGURES, 'utf8'));
  } catch (e) {
    throw new Error(`${PAGE_FIGURES} is not valid JSON (${e.message}); rerun the e2e tests that write it: ${PAGE_TESTS_COMMAND}`);
  }
  if (typeof figures !== 'object' || figures === null || Array.isArray(figures)) throw new Error(`${PAGE_FIGURES} must hold an object of figures by id`);
  const expected = Object.values(PAGE_FIGURE_TESTS).flat();
  const ids = [...expected.filter((id) => id in figures), ...Object.keys(figures).filter((id) => !expected.includes(id)).sort()];
  if (!ids.length) return notYet;
  const rows = ids.map((id) => {
    const f = figures[id];
    for (const field of ['label', 'value', 'unit', 'adapter', 'command', 'date']) {
      if (f?.[field] === undefined) throw new Error(`${PAGE_FIGURES}: figure "${id}" has no "${field}" (recordFigure in tests/e2e/helpers.ts writes it)`);
    }
    const pass = f.pass === undefined ? '' : f.pass ? 'pass' : 'FAIL';
    return `| ${cell(f.label)} | ${formatValue(f.value, f.unit)} | ${cell(f.target ?? '')} | ${pass} | ${cell(f.adapter)} | \`${cell(f.command)}\` | ${String(f.date).slice(0, 10)} | ${cell(f.detail ?? '')} |`;
  });
  const missing = Object.entries(PAGE_FIGURE_TESTS).flatMap(([test, testIds]) => {
    const absent = testIds.filter((id) => !(id in figures));
    return absent.length ? [`${absent.map((id) => `\`${id}\``).join(', ')} (\`node scripts/run-tests.mjs ${test}\`)`] : [];
  });
  return [
    `Written ${date} by \`npm run readme:tables\` from \`${PAGE_FIGURES}\`, which the e2e tests write (\`${PAGE_TESTS_COMMAND}\`); headless Chromium, each row with its adapter, test and date:`,
    '',
    '| figure | value | target | verdict | adapter | measured by | date | detail |',
    '|---|---|---|---|---|---|---|---|',
    ...rows,
    ...(missing.length ? ['', `Not measured yet: ${missing.join('; ')}.`] : []),
  ].join('\n');
}

/** The page's figures as two sentences for the README, each figure with its target and verdict; the table in docs has the rest. */
function pageSummary() {
  const figures = existsSync(PAGE_FIGURES) ? readPageFigures() : {};
  const say = (id, what) => {
    const f = figures[id];
    if (!f) return undefined;
    const verdict = f.pass === undefined ? '' : ` (target ${f.target}: ${f.pass ? 'met' : 'NOT met'})`;
    return `${what} ${formatValue(f.value, f.unit)}${verdict}`;
  };
  const loads = [
    say('load-binary-tarball', 'the official binary tarball (60,000 images) is trainable in'),
    say('load-jpeg-imagefolder', 'the ImageFolder JPEG archive in'),
    say('load-hub-parquet', 'the Hub parquet pair from a local server in'),
    say('load-binary-tarball-cached', 'a cached dataset on a second visit in'),
  ].filter(Boolean);
  const warmUp = figures['gpu-warm-up'] ? `"Trainable" is the dataset decoded and ready; the first loss read-out comes later by the adapter's warm-up (shader compilation and the first steps), ${formatValue(figures['gpu-warm-up'].value, figures['gpu-warm-up'].unit)} for any dataset here.` : '';
  const ratio = say('page-vs-headless', 'the page with every view open trains at');
  if (!loads.length && !ratio) return `Not measured yet: run \`${PAGE_TESTS_COMMAND}\`, then \`npm run readme:tables -- --only page\`.`;
  const adapters = [...new Set(Object.values(figures).map((f) => f.adapter))].join(', ');
  const dates = Object.values(figures).map((f) => String(f.date).slice(0, 10)).sort();
  return [
    `Measured in headless Chromium on ${adapters} (2 cores, ${dates[0] === dates.at(-1) ? dates[0] : `${dates[0]} to ${dates.at(-1)}`}; written by \`npm run readme:tables\`):`,
    loads.length ? `after the pick or the click, ${loads.join('; ')}.` : '',
    warmUp,
    ratio ? `Against the same run in a bare page, ${ratio} times its images/s.` : '',
    'Every figure, with how it was measured: [docs/playground.md](docs/playground.md#measured-figures-of-the-page).',
  ].filter(Boolean).join(' ');
}

function readPageFigures() {
  try {
    return JSON.parse(readFileSync(PAGE_FIGURES, 'utf8'));
  } catch (e) {
    throw new Error(`${PAGE_FIGURES} is not valid JSON (${e.message}); rerun the e2e tests that write it: ${PAGE_TESTS_COMMAND}`);
  }
}

function main() {
  const usage = `usage: npm run readme:tables [-- --only NAME,NAME | --check]; tables: ${Object.keys(TABLE_PAGES).join(', ')}`;
  const args = process.argv.slice(2);
  let only;
  let check = false;
  for (let i = 0; i < args.length; i++) {
    if (args[i] === '--check') check = true;
    else if (args[i] === '--only') only = (args[++i] ?? '').split(',').filter(Boolean);
    else if (args[i].startsWith('--only=')) only = args[i].slice('--only='.length).split(',').filter(Boolean);
    else throw new Error(`unknown argument "${args[i]}"; ${usage}`);
  }
  if (only && !only.length) throw new Error(`--only needs table names; ${usage}`);
  for (const name of only ?? []) if (!(name in TABLE_PAGES)) throw new Error(`--only: no table "${name}"; ${usage}`);

  const problems = markerProblems();
  if (check) {
    if (problems.length) {
      console.error(`readme:tables --check: ${problems.length} problem(s):\n${problems.map((p) => `- ${p}`).join('\n')}`);
      process.exit(1);
    }
    console.log(`readme:tables --check: ${Object.keys(TABLE_PAGES).length} tables, each in its page: ${Object.entries(TABLE_PAGES).map(([n, p]) => `${n} → ${p}`).join(', ')}`);
    return;
  }
  // Fail before twenty minutes of measuring, not after
  if (problems.length) throw new Error(`the docs' table markers are not in order:\n${problems.map((p) => `- ${p}`).join('\n')}`);

  const names = only ?? Object.keys(TABLE_PAGES);
  if (names.includes('page') && !names.includes('page-summary')) names.push('page-summary');
  const pageTestsPassed = !only && names.includes('page') ? runPageTests() : true;
  const tables = {};
  for (const name of names) tables[name] = measure[name]();
  writeTables(tables);
  if (!pageTestsPassed) process.exit(1);
}

try {
  main();
} catch (e) {
  console.error(`readme:tables: ${e.message}`);
  process.exit(1);
}
