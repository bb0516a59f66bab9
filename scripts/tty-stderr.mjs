// Preloaded by native-logs.mjs (node --import) when the user's stderr is a terminal: the child's
// fd 2 is then a pipe that carries native log lines through a filter, and its process.stderr
// (console.error, progress lines) is pointed at the terminal itself, passed as the fd named in
// LABELFLOW_STDERR_FD, so it stays a TTY (isTTY, columns, `\r` progress) and is never filtered.
import { isatty, WriteStream } from 'node:tty';

const fd = Number(process.env.LABELFLOW_STDERR_FD);
delete process.env.LABELFLOW_STDERR_FD; // not for the child's own children
if (Number.isInteger(fd) && fd > 2 && isatty(fd)) {
  const terminal = new WriteStream(fd);
  Object.defineProperty(process, 'stderr', { configurable: true, enumerable: true, get: () => terminal });
}
