// The control socket: a Unix socket (0600 by default) speaking newline-delimited JSON.
//   request:  {"id": 1, "op": "list", ...args}
//   response: {"id": 1, "ok": true, "result": ...}  or  {"id": 1, "ok": false, "error": "..."}
// A request line is at most 1 MiB; a longer one, or bad JSON, gets an error and the
// connection is closed. A client that vanishes mid-request costs nothing but its buffer.

import { chmodSync, existsSync, mkdirSync, rmSync } from 'node:fs';
import { createConnection, createServer, type Server, type Socket } from 'node:net';
import { dirname } from 'node:path';

export const MAX_REQUEST_BYTES = 1 << 20;
const IDLE_TIMEOUT_MS = 60_000;

export type Handler = (op: string, args: Record<string, unknown>) => unknown;

/**
 * A handler's answer that goes on: the client gets {"id", "ok": true, "streaming": true},
 * then {"id", "event": ...} lines until it disconnects, when `start`'s returned stop runs.
 */
export class Stream {
  constructor(readonly start: (send: (event: unknown) => void) => () => void) {}
}

export interface ControlLog {
  warn(obj: object, msg: string): void;
}

export function startControlServer(path: string, mode: number, handler: Handler, log: ControlLog): Promise<Server> {
  mkdirSync(dirname(path), { recursive: true });
  if (existsSync(path)) rmSync(path); // a stale socket from a process that is gone
  const server = createServer((socket) => serve(socket, handler, log));
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(path, () => {
      chmodSync(path, mode);
      server.off('error', reject);
      server.on('error', (e) => log.warn({ err: e.message }, 'control socket error'));
      resolve(server);
    });
  });
}

function serve(socket: Socket, handler: Handler, log: ControlLog): void {
  let buffer = '';
  socket.setEncoding('utf8');
  socket.setTimeout(IDLE_TIMEOUT_MS, () => socket.destroy());
  socket.on('error', () => socket.destroy());
  const reply = (msg: object) => {
    if (!socket.destroyed) socket.write(`${JSON.stringify(msg)}\n`);
  };
  socket.on('data', (chunk: string) => {
    buffer += chunk;
    if (buffer.length > MAX_REQUEST_BYTES && !buffer.includes('\n')) {
      reply({ id: null, ok: false, error: `request longer than ${MAX_REQUEST_BYTES} bytes` });
      socket.end();
      buffer = '';
      return;
    }
    let nl: number;
    while ((nl = buffer.indexOf('\n')) >= 0) {
      const line = buffer.slice(0, nl);
      buffer = buffer.slice(nl + 1);
      if (!line.trim()) continue;
      const answer = handle(line, handler, log);
      if (answer instanceof StreamingAnswer) {
        socket.setTimeout(0);
        reply({ id: answer.id, ok: true, streaming: true });
        const stop = answer.stream.start((event) => reply({ id: answer.id, event }));
        socket.once('close', stop);
        return; // a streaming connection takes no more requests
      }
      reply(answer);
    }
  });
}

class StreamingAnswer {
  constructor(
    readonly id: unknown,
    readonly stream: Stream,
  ) {}
}

function handle(line: string, handler: Handler, log: ControlLog): object | StreamingAnswer {
  let req: unknown;
  try {
    req = JSON.parse(line);
  } catch {
    return { id: null, ok: false, error: 'request is not valid JSON' };
  }
  if (typeof req !== 'object' || req === null || typeof (req as { op?: unknown }).op !== 'string') {
    return { id: null, ok: false, error: "request needs an 'op' string" };
  }
  const { id = null, op, ...args } = req as { id?: unknown; op: string };
  try {
    const result = handler(op, args);
    if (result instanceof Stream) return new StreamingAnswer(id, result);
    return { id, ok: true, result: result ?? null };
  } catch (e) {
    const message = (e as Error).message;
    if (!(e instanceof Error) || e.constructor === Error || e instanceof TypeError) log.warn({ op, err: message }, 'control request failed');
    return { id, ok: false, error: message };
  }
}

/** One request over the socket; rejects with the server's error text, or why it could not ask. */
export function controlRequest(path: string, op: string, args: Record<string, unknown> = {}, timeoutMs = 10_000): Promise<unknown> {
  return new Promise((resolve, reject) => {
    const socket = createConnection(path);
    let buffer = '';
    const timer = setTimeout(() => {
      socket.destroy();
      reject(new Error(`no answer from ${path} within ${timeoutMs} ms`));
    }, timeoutMs);
    socket.setEncoding('utf8');
    socket.on('error', (e: NodeJS.ErrnoException) => {
      clearTimeout(timer);
      const why = e.code === 'ENOENT' || e.code === 'ECONNREFUSED' ? 'is tapvs running? (set --socket or TAPVS_SOCKET)' : e.message;
      reject(new Error(`cannot reach tapvs at ${path}: ${why}`));
    });
    socket.on('data', (chunk: string) => {
      buffer += chunk;
      const nl = buffer.indexOf('\n');
      if (nl < 0) return;
      clearTimeout(timer);
      socket.end();
      const res = JSON.parse(buffer.slice(0, nl)) as { ok: boolean; result?: unknown; error?: string };
      if (res.ok) resolve(res.result);
      else reject(new Error(res.error));
    });
    socket.write(`${JSON.stringify({ id: 1, op, ...args })}\n`);
  });
}

/** A streaming request: `onEvent` for each event until close() (or the server goes away). */
export function controlStream(path: string, op: string, args: Record<string, unknown>, onEvent: (event: unknown) => void, onEnd: (error?: Error) => void): { close(): void } {
  const socket = createConnection(path);
  let buffer = '';
  let started = false;
  socket.setEncoding('utf8');
  socket.on('error', (e: NodeJS.ErrnoException) => {
    const why = e.code === 'ENOENT' || e.code === 'ECONNREFUSED' ? 'is tapvs running? (set --socket or TAPVS_SOCKET)' : e.message;
    onEnd(new Error(`cannot reach tapvs at ${path}: ${why}`));
  });
  socket.on('close', () => onEnd());
  socket.on('data', (chunk: string) => {
    buffer += chunk;
    let nl: number;
    while ((nl = buffer.indexOf('\n')) >= 0) {
      const msg = JSON.parse(buffer.slice(0, nl)) as { ok?: boolean; error?: string; streaming?: boolean; event?: unknown };
      buffer = buffer.slice(nl + 1);
      if (!started) {
        if (!msg.ok) {
          onEnd(new Error(msg.error));
          socket.destroy();
          return;
        }
        started = true;
      } else onEvent(msg.event);
    }
  });
  socket.write(`${JSON.stringify({ id: 1, op, ...args })}\n`);
  return { close: () => socket.destroy() };
}
