/**
 * The CLIs' stderr holds what the user should read: the GPU stack's harmless native lines (Dawn's
 * "... artificially reduced ..." warnings, "error: XDG_RUNTIME_DIR is invalid ...") are kept out
 * by the launcher (scripts/native-logs.mjs, behind every `npm run` CLI), on lavapipe and on
 * SwiftShader, and LABELFLOW_NATIVE_LOGS=1 brings them back. Every other line passes, in order,
 * with the exit code or the signal that ended the command; on a terminal the CLI's own stderr
 * stays a TTY, so its `\r` progress line works.
 */
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { once } from 'node:events';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { test } from 'node:test';

const NOISE = /artificially reduced|XDG_RUNTIME_DIR/;
const LAVAPIPE = resolve('.webgpu-sw/lvp_icd.json');
const SWIFTSHADER = '/usr/lib/chromium/vk_swiftshader_icd.json';

/** The environment without the variables that change what the native stack prints; XDG_RUNTIME_DIR unset so its complaint is printed. */
function environment(extra: Record<string, string>): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = { ...process.env, ...extra };
  for (const key of ['XDG_RUNTIME_DIR', 'LABELFLOW_NATIVE_LOGS', 'VK_DRIVER_FILES']) if (!(key in extra)) delete env[key];
  return env;
}

function cli(script: string, args: string[], env: Record<string, string>) {
  const r = spawnSync(process.execPath, ['scripts/node-ts.mjs', script, ...args], { encoding: 'utf8', env: environment(env), timeout: 300_000 });
  return { code: r.status, signal: r.signal, out: r.stdout, err: r.stderr };
}

const noiseLines = (text: string) => text.split('\n').filter((l) => NOISE.test(l));

for (const [adapter, icd, name] of [['lavapipe', LAVAPIPE, /llvmpipe/], ['SwiftShader', SWIFTSHADER, /swiftshader/i]] as const) {
  test(`npm run bench -- --adapter on ${adapter}: no native noise on stderr; LABELFLOW_NATIVE_LOGS=1 shows it`, { skip: existsSync(icd) ? false : `${icd} not found` }, () => {
    const loud = cli('src/cli/bench.ts', ['--adapter'], { VK_ICD_FILENAMES: icd, LABELFLOW_NATIVE_LOGS: '1' });
    assert.equal(loud.code, 0, loud.err);
    assert.match(loud.out, name);
    const shown = noiseLines(loud.err);
    console.log(`${adapter}, LABELFLOW_NATIVE_LOGS=1: ${shown.length} native lines\n  ${shown.join('\n  ')}`);
    assert.ok(shown.length > 0, `no native noise on ${adapter} even with the switch: ${JSON.stringify(loud.err)}`);

    const quiet = cli('src/cli/bench.ts', ['--adapter'], { VK_ICD_FILENAMES: icd });
    assert.equal(quiet.code, 0, quiet.err);
    assert.equal(quiet.out, loud.out, 'stdout untouched');
    assert.equal(quiet.err, '', 'nothing else was on stderr');
  });
}

test('npm run train on lavapipe: its own stderr lines pass, the native ones do not; a usage error keeps its message and exit code', () => {
  const dir = mkdtempSync(join(tmpdir(), 'labelflow-cli-output-'));
  try {
    const out = join(dir, 'result.json');
    const r = cli('src/cli/train.ts', ['--data', 'synthetic', '--model', 'test', '--method', 'none', '--train-limit', '64', '--test-limit', '32',
      '--batch', '16', '--epochs', '1', '--out', out], { VK_ICD_FILENAMES: LAVAPIPE });
    assert.equal(r.code, 0, r.err);
    assert.equal(JSON.parse(readFileSync(out, 'utf8')).status, 'done');
    assert.deepEqual(noiseLines(r.err), []);
    assert.match(r.err, /epoch 1\/1 .*step 3\/4/, 'the progress lines (stderr, not a terminal) pass');

    const bad = cli('src/cli/train.ts', ['--epochs', 'many'], { VK_ICD_FILENAMES: LAVAPIPE });
    assert.equal(bad.code, 2);
    assert.match(bad.err, /^npm run train --: --epochs needs a number, got "many"\nusage:/);
    assert.match(bad.err, /LABELFLOW_NATIVE_LOGS=1 +show the GPU driver stack's own log lines/, '--help and usage name the switch');
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

/** Runs `node scripts/native-logs.mjs -e CODE`: the child writes to fd 2 directly, as native code does. */
function launched(code: string, env: Record<string, string> = {}) {
  return spawnSync(process.execPath, ['scripts/native-logs.mjs', '-e', code], { encoding: 'utf8', env: environment(env) });
}

test('the filter: harmless lines dropped even when split across writes; every other line kept, in order, \\r included; exit code and signal passed on', () => {
  const writes = [
    'first real line\n',
    'Warning: maxDynamicUniformBuffersPerPipelineLayout artificially ', 'reduced from 1000000 to 16 to fit dynamic offset allocation limit.\n',
    'error: XDG_RUNTIME_DIR is invalid or not set in the environment.\nWarning: something the user must see\n',
    'Warning: maxDynamicUniformBuffersPerPipelineLayout artificially reduced from 1000000 to 16 but differently worded\n',
    'error: XDG_RUNTIME_DIR is invalid or not set in the environment. (and more)\n',
    '\rprogress 1/2', '\rprogress 2/2\n',
    'last line without newline',
  ];
  // 30 ms between writes, so that each reaches the launcher as its own chunk
  const code = `const fs = require('fs'); const pause = new Int32Array(new SharedArrayBuffer(4));
    for (const w of ${JSON.stringify(writes)}) { fs.writeSync(2, w); Atomics.wait(pause, 0, 0, 30); } process.exitCode = 3;`;
  const r = launched(code);
  assert.equal(r.status, 3);
  assert.equal(r.stderr, [
    'first real line\n',
    'Warning: something the user must see\n',
    'Warning: maxDynamicUniformBuffersPerPipelineLayout artificially reduced from 1000000 to 16 but differently worded\n',
    'error: XDG_RUNTIME_DIR is invalid or not set in the environment. (and more)\n',
    '\rprogress 1/2\rprogress 2/2\n',
    'last line without newline',
  ].join(''));
  assert.equal(launched(code, { LABELFLOW_NATIVE_LOGS: '1' }).stderr, writes.join(''), 'the switch passes everything');

  const killed = launched("require('fs').writeSync(2, 'going\\n'); process.kill(process.pid, 'SIGTERM'); setTimeout(() => {}, 5000);");
  assert.equal(killed.signal, 'SIGTERM');
  assert.equal(killed.stderr, 'going\n');
});

test('a partial line that cannot be a harmless one passes at once: the child waits for the parent to see its progress line', async () => {
  const code = "require('fs').writeSync(2, '\\rloading 1/2'); process.stdin.once('data', () => { require('fs').writeSync(2, '\\rloading 2/2\\n'); process.exit(0); });";
  const child = spawn(process.execPath, ['scripts/native-logs.mjs', '-e', code], { env: environment({}), stdio: ['pipe', 'ignore', 'pipe'] });
  let err = '';
  const timer = setTimeout(() => child.kill(), 20_000);
  child.stderr.on('data', (chunk: Buffer) => {
    err += chunk.toString();
    if (err === '\rloading 1/2') child.stdin.write('go\n');
  });
  const [status] = await once(child, 'close') as [number | null];
  clearTimeout(timer);
  assert.equal(status, 0, `the launcher held the partial line back (stderr so far: ${JSON.stringify(err)})`);
  assert.equal(err, '\rloading 1/2\rloading 2/2\n');
});

const script = spawnSync('script', ['--version'], { encoding: 'utf8' });
test('on a terminal the CLI\'s stderr is still a TTY (for its \\r progress line) and the native lines are still kept out', { skip: script.status === 0 ? false : 'util-linux `script` (a pseudo-terminal) is not installed' }, () => {
  const code = "require('fs').writeSync(2, 'error: XDG_RUNTIME_DIR is invalid or not set in the environment.\\n'); process.stderr.write('\\\\rtty ' + process.stderr.isTTY + ' columns ' + process.stderr.columns + '\\\\n'); process.exitCode = 4;";
  const command = `${process.execPath} scripts/native-logs.mjs -e "${code}"`;
  const r = spawnSync('script', ['-qec', command, '/dev/null'], { encoding: 'utf8', env: environment({}) });
  assert.equal(r.status, 4, r.stdout + r.stderr);
  assert.match(r.stdout, /\rtty true columns \d+\r?\n/);
  assert.doesNotMatch(r.stdout, NOISE);
});
