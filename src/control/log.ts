// pino, writing JSON lines to stdout (or a file descriptor the caller names).

import pino from 'pino';

export type Logger = pino.Logger;

export function createLogger(level: string, destination: number = 1): Logger {
  return pino({ level, base: { name: 'tapvs' }, timestamp: pino.stdTimeFunctions.isoTime }, pino.destination({ fd: destination, sync: true }));
}
