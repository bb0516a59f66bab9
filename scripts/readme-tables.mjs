// `npm run readme:tables`: reruns the project's own measurements and writes their tables into
// README.md between <!-- table:NAME --> and <!-- /table:NAME --> markers, with date and adapter.
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';

// Chromium's software adapter, which the bench page gets where there is no GPU (Debian's package)
const SWIFTSHADER_ICD = '/usr/lib/chromium/vk_swiftshader_icd.json';

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
const date = new Date().toISOString().slice(0, 10);

const presets = run(['src/cli/presets.ts']).trim();
const gradcheck = run(['src/cli/gradcheck.ts']);
const adapter = between(gradcheck, /^adapter:/, /^$/).replace(/^adapter:\s*/, '');
const gradTable = between(gradcheck, /^\| op \|/, /^$/);
const wholeModel = between(gradcheck, /^finite differences/, /^gradcheck:/);
const bench = run(['src/cli/bench.ts', '--quick']);
const benchTables = between(bench, /^matmul/, /^notes:/);
const peers = run(['src/cli/bench-peers.ts', '--quick']);
const peersAt = peers.search(/^Measured .* by `npm run bench:peers/m);
if (peersAt < 0) throw new Error(`bench:peers --quick printed no tables:\n${peers}`);
const peersTables = peers.slice(peersAt).trim();
// The issue's own presets at a batch a software adapter can take (about 10 minutes on 2 cores)
const presetArgs = ['--presets', 'small,base', '--batch', '8', '--samples', '3', '--sizes', '256'];
const peersPresets = run(['src/cli/bench-peers.ts', ...presetArgs]);
const peersPresetsAt = peersPresets.search(/^Measured .* by `npm run bench:peers/m);
if (peersPresetsAt < 0) throw new Error(`bench:peers ${presetArgs.join(' ')} printed no tables:\n${peersPresets}`);
const swiftshader = existsSync(SWIFTSHADER_ICD) ? run(['src/cli/bench-peers.ts', '--quick', '--no-extras'], { VK_ICD_FILENAMES: SWIFTSHADER_ICD }) : undefined;
const swiftshaderAt = swiftshader?.search(/^Measured .* by `npm run bench:peers/m) ?? -1;

const tables = {
  presets,
  gradcheck: `Measured ${date} by \`npm run gradcheck\` on ${adapter}, Node ${process.versions.node}:\n\n${gradTable}\n\n${wholeModel}`,
  bench: `Measured ${date} by \`npm run bench -- --quick\` on ${adapter}, Node ${process.versions.node}:\n\n\`\`\`\n${benchTables}\n\`\`\``,
  peers: peersTables,
  'peers-presets': peersPresets.slice(peersPresetsAt).trim(),
  'peers-swiftshader': swiftshaderAt >= 0
    ? swiftshader.slice(swiftshaderAt).trim().replace('`npm run bench:peers', `\`VK_ICD_FILENAMES=${SWIFTSHADER_ICD} npm run bench:peers`)
    : `Not measured: ${SWIFTSHADER_ICD} was not found when \`npm run readme:tables\` ran (${date}).`,
};

let readme = readFileSync('README.md', 'utf8');
for (const [name, body] of Object.entries(tables)) {
  const re = new RegExp(`<!-- table:${name} -->[\\s\\S]*?<!-- /table:${name} -->`);
  if (!re.test(readme)) throw new Error(`README.md has no <!-- table:${name} --> … <!-- /table:${name} --> markers`);
  readme = readme.replace(re, `<!-- table:${name} -->\n${body}\n<!-- /table:${name} -->`);
}
writeFileSync('README.md', readme);
console.log(`README.md tables updated (${date}, ${adapter})`);
