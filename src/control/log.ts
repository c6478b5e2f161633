// pino, writing JSON lines to stdout (or a file descriptor the caller names), and optionally
// to a log file that is rotated by size.
//
// Writes are asynchronous and the buffer behind each destination is bounded: a slow reader (a
// serial console, a stalled pipe) costs log lines, counted in `droppedLogLines`, never a stall
// of the packet loop and never unbounded memory. What is buffered is written out at exit.

import { mkdirSync, openSync, renameSync, statSync } from 'node:fs';
import { dirname } from 'node:path';
import pino from 'pino';

export type Logger = pino.Logger;

/** Log bytes buffered for a slow destination before lines are dropped. */
export const LOG_BUFFER_BYTES = 1 << 20;

/** A log file kept to `maxBytes`, with one older generation beside it (FILE.1). */
export interface LogFile {
  path: string;
  maxBytes: number;
}

let dropped = 0;

/** Lines dropped because a destination was too slow (all loggers of this process). */
export function droppedLogLines(): number {
  return dropped;
}

type Boom = ReturnType<typeof pino.destination>;

function boundedStream(fd: number): Boom {
  const stream = pino.destination({ fd, sync: false, maxLength: LOG_BUFFER_BYTES });
  stream.on('drop', () => dropped++);
  // A destination that breaks (EPIPE: the reader went away) must not take tapvs with it.
  stream.on('error', () => {});
  live.add(stream);
  return stream;
}

/** Streams still open: whatever way the process ends, what they accepted is written out. */
const live = new Set<Boom>();
process.once('exit', () => {
  for (const stream of live) flushStream(stream);
});

/**
 * A log file that, on reaching its size, is renamed to FILE.1 (the previous FILE.1 goes) and
 * started anew. Each generation is its own bounded asynchronous stream; the old one finishes
 * writing what it holds into the renamed file.
 */
class RotatingFile {
  private stream: Boom;
  private size = 0;

  constructor(private readonly file: LogFile) {
    try {
      this.size = statSync(file.path).size;
    } catch {
      // a new file
    }
    this.stream = this.open();
  }

  /** Opened here and now, so that a rename moves exactly what this stream writes to. */
  private open(): Boom {
    mkdirSync(dirname(this.file.path), { recursive: true });
    return boundedStream(openSync(this.file.path, 'a'));
  }

  write(line: string): boolean {
    this.size += Buffer.byteLength(line);
    const ok = this.stream.write(line);
    if (this.size >= this.file.maxBytes) this.rotate();
    return ok;
  }

  private rotate(): void {
    try {
      renameSync(this.file.path, `${this.file.path}.1`);
    } catch {
      return; // cannot rotate (the file went away): carry on where we are
    }
    live.delete(this.stream);
    this.stream.end(); // it finishes writing into the renamed file, then closes it
    this.stream = this.open();
    this.size = 0;
  }
}

export function createLogger(level: string, destination: number = 1, file: LogFile | null = null): Logger {
  const options = { level, base: { name: 'tapvs' }, timestamp: pino.stdTimeFunctions.isoTime };
  const out = boundedStream(destination);
  if (!file) return pino(options, out);
  return pino(options, pino.multistream([{ stream: out, level: 'trace' }, { stream: new RotatingFile(file), level: 'trace' }]));
}

function flushStream(stream: { flushSync(): void }): void {
  try {
    stream.flushSync();
  } catch {
    // the destination is gone, or will not take more now: nothing more can be written
  }
}
