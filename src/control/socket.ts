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
      if (line.trim()) reply(handle(line, handler, log));
    }
  });
}

function handle(line: string, handler: Handler, log: ControlLog): object {
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
    return { id, ok: true, result: handler(op, args) ?? null };
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
