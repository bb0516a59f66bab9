// Runs Node on a script with the GPU stack's harmless native log lines kept out of stderr:
//   node scripts/native-logs.mjs [node flags] script.mjs [args]     (or runNode() from another launcher)
// Dawn and the Vulkan stack write them from native code straight to file descriptor 2, where no
// JavaScript can intercept them, so the child's fd 2 is a pipe read here: lines matching
// HARMLESS_NATIVE_LINES are dropped, everything else is passed on as it arrives (a line that could
// still turn out harmless is held only until its end arrives). When stderr is a terminal, the
// child's process.stderr writes to the terminal itself (tty-stderr.mjs), so the CLIs' own output
// (`\r` progress lines included) does not pass through the pipe at all.
// LABELFLOW_NATIVE_LOGS=1 runs the child untouched, native lines included. The exit code, or the
// signal that ended the child, is passed on; SIGINT, SIGTERM and SIGHUP are forwarded to it.
import { spawn } from 'node:child_process';
import { StringDecoder } from 'node:string_decoder';
import { fileURLToPath } from 'node:url';

export const NATIVE_LOGS_ENV = 'LABELFLOW_NATIVE_LOGS';
/** The child's fd of the parent's terminal, for tty-stderr.mjs. */
export const STDERR_FD_ENV = 'LABELFLOW_STDERR_FD';

/** `start`: the literal text the line begins with, so that a partly arrived line can be recognised. */
export const HARMLESS_NATIVE_LINES = [
  // Dawn, when it opens a Vulkan device whose limits are unbounded (lavapipe, SwiftShader)
  { start: 'Warning: maxDynamic', line: /^Warning: maxDynamic(Uniform|Storage)BuffersPerPipelineLayout artificially reduced from \d+ to \d+ to fit dynamic offset allocation limit\.$/ },
  // the Vulkan stack looking for a display session, on a machine that has none (headless, no XDG_RUNTIME_DIR)
  { start: 'error: XDG_RUNTIME_DIR', line: /^error: XDG_RUNTIME_DIR is invalid or not set in the environment\.$/ },
];

export const nativeLogsWanted = (env = process.env) => Boolean(env[NATIVE_LOGS_ENV]) && env[NATIVE_LOGS_ENV] !== '0';

const harmless = (line) => HARMLESS_NATIVE_LINES.some((h) => h.line.test(line));
const mayBecomeHarmless = (partial) => HARMLESS_NATIVE_LINES.some((h) => h.start.startsWith(partial) || partial.startsWith(h.start));

/** A line filter over a text stream: push() chunks as they come, end() at the end; `write` receives what passes. */
export function nativeLogFilter(write) {
  let pending = '';
  return {
    push(text) {
      pending += text;
      let out = '';
      let start = 0;
      for (let nl = pending.indexOf('\n'); nl >= 0; nl = pending.indexOf('\n', start)) {
        const line = pending.slice(start, nl);
        if (!harmless(line.endsWith('\r') ? line.slice(0, -1) : line)) out += pending.slice(start, nl + 1);
        start = nl + 1;
      }
      pending = pending.slice(start);
      if (pending && !mayBecomeHarmless(pending)) {
        out += pending;
        pending = '';
      }
      if (out) write(out);
    },
    end() {
      if (pending && !harmless(pending)) write(pending);
      pending = '';
    },
  };
}

/** Runs `node ...nodeArgs` with stdin and stdout inherited and native noise filtered from stderr; exits as the child does. */
export function runNode(nodeArgs) {
  if (nativeLogsWanted()) return finish(spawn(process.execPath, nodeArgs, { stdio: 'inherit' }));
  const env = { ...process.env };
  let args = nodeArgs;
  const stdio = ['inherit', 'inherit', 'pipe'];
  if (process.stderr.isTTY) {
    stdio.push(2); // the terminal, as the child's fd 3
    env[STDERR_FD_ENV] = '3';
    args = ['--import', fileURLToPath(new URL('./tty-stderr.mjs', import.meta.url)), ...nodeArgs];
  }
  const child = spawn(process.execPath, args, { stdio, env });
  const decoder = new StringDecoder('utf8');
  const filter = nativeLogFilter((text) => process.stderr.write(text));
  child.stderr.on('data', (chunk) => filter.push(decoder.write(chunk)));
  child.stderr.on('end', () => {
    filter.push(decoder.end());
    filter.end();
  });
  return finish(child);
}

function finish(child) {
  const forward = (signal) => child.kill(signal);
  const signals = ['SIGINT', 'SIGTERM', 'SIGHUP'];
  for (const s of signals) process.on(s, forward);
  child.on('error', (e) => {
    console.error(`cannot start ${process.execPath}: ${e.message}`);
    process.exit(1);
  });
  child.on('close', (code, signal) => {
    for (const s of signals) process.off(s, forward);
    if (signal) process.kill(process.pid, signal); // end the way the child ended
    process.exit(code ?? 1);
  });
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  if (process.argv.length < 3) {
    console.error('usage: node native-logs.mjs [node flags] script.mjs [args...]');
    process.exit(2);
  }
  runNode(process.argv.slice(2));
}
