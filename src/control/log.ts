// pino, writing JSON lines to stdout (or a file descriptor the caller names).
//
// Writes are asynchronous and the buffer behind them is bounded: a slow reader (a serial
// console, a stalled pipe) costs log lines, counted in `droppedLogLines`, never a stall of the
// packet loop and never unbounded memory. What is buffered is written out at exit.

import pino from 'pino';

export type Logger = pino.Logger;

/** Log bytes buffered for a slow destination before lines are dropped. */
export const LOG_BUFFER_BYTES = 1 << 20;

let dropped = 0;

/** Lines dropped because the destination was too slow (all loggers of this process). */
export function droppedLogLines(): number {
  return dropped;
}

export function createLogger(level: string, destination: number = 1): Logger {
  const stream = pino.destination({ fd: destination, sync: false, maxLength: LOG_BUFFER_BYTES });
  stream.on('drop', () => dropped++);
  // A destination that breaks (EPIPE: the reader went away) must not take tapvs with it.
  stream.on('error', () => {});
  // Whatever way the process ends, what was accepted is written out (exit handlers run synchronously).
  process.once('exit', () => flushStream(stream));
  return pino({ level, base: { name: 'tapvs' }, timestamp: pino.stdTimeFunctions.isoTime }, stream);
}

function flushStream(stream: { flushSync(): void }): void {
  try {
    stream.flushSync();
  } catch {
    // the destination is gone, or will not take more now: nothing more can be written
  }
}
