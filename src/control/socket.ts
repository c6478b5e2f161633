// The control socket: a Unix socket speaking newline-delimited JSON.
//   request:  {"id": 1, "op": "list", ...args}
//   response: {"id": 1, "ok": true, "result": ...}  or  {"id": 1, "ok": false, "error": "..."}
// No client can stop the server or make it hold more than a bounded amount for it: a request
// line is at most MAX_REQUEST_BYTES, replies a client leaves unread stop us reading its next
// requests (back-pressure), stream events it cannot take are dropped and counted, and a reply
// that cannot be encoded becomes an error reply. The socket is created with its final mode,
// never over a file that is not a stale socket, and never beside a live tapvs.

import { chownSync, lstatSync, mkdirSync, unlinkSync } from 'node:fs';
import { createConnection, createServer, type Server, type Socket } from 'node:net';
import { dirname } from 'node:path';

export const MAX_REQUEST_BYTES = 1 << 20;
/** Unread reply bytes at which we stop reading a client's requests until it catches up. */
export const MAX_UNREAD_REPLY_BYTES = 4 << 20;
/** Unread stream bytes beyond which a watcher's events are dropped (and counted). */
export const MAX_STREAM_BACKLOG_BYTES = 1 << 20;
export const DEFAULT_MAX_CLIENTS = 32;
/** An id is echoed back; only a plain value can be, and only a short one. */
const MAX_ID_LENGTH = 256;
const IDLE_TIMEOUT_MS = 60_000;
/** How long start-up waits for an existing socket to answer before calling it live. */
const LIVENESS_TIMEOUT_MS = 1000;

export type Handler = (op: string, args: Record<string, unknown>) => unknown;

/**
 * A handler's answer that goes on: the client gets {"id", "ok": true, "streaming": true},
 * then {"id", "event": ...} lines until it disconnects, when `start`'s returned stop runs.
 * `send` returns false when the client is too far behind and the event was dropped; the
 * client is told how many it lost ({"id", "dropped": N}) once it catches up.
 */
export class Stream {
  constructor(readonly start: (send: (event: unknown) => boolean) => () => void) {}
}

export interface ControlLog {
  warn(obj: object, msg: string): void;
}

export interface ControlServerOptions {
  path: string;
  /** File mode of the socket, in place from its creation. */
  mode: number;
  /** Group id the socket is given (its mode decides what the group may do). */
  gid?: number | null;
  /** Operations this socket serves; all when absent (the admin socket). */
  allow?: ReadonlySet<string>;
  maxClients?: number;
  handler: Handler;
  log: ControlLog;
}

export interface ControlCounters {
  clients: number;
  clients_refused: number;
  requests: number;
  request_errors: number;
  stream_events_dropped: number;
}

export interface ControlServer {
  readonly server: Server;
  readonly counters: ControlCounters;
  close(): void;
}

export async function startControlServer(o: ControlServerOptions): Promise<ControlServer> {
  mkdirSync(dirname(o.path), { recursive: true });
  await claimSocketPath(o.path);
  const counters: ControlCounters = { clients: 0, clients_refused: 0, requests: 0, request_errors: 0, stream_events_dropped: 0 };
  const maxClients = o.maxClients ?? DEFAULT_MAX_CLIENTS;
  const server = createServer((socket) => {
    if (counters.clients >= maxClients) {
      counters.clients_refused++;
      socket.on('error', () => socket.destroy());
      socket.end(`${JSON.stringify({ id: null, ok: false, error: `too many control clients (${maxClients}); try again later` })}\n`);
      return;
    }
    counters.clients++;
    socket.once('close', () => counters.clients--);
    new ClientSession(socket, o, counters);
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    // The umask makes bind() create the socket with its final mode: no window in which it is
    // more open than asked. bind() runs synchronously inside listen().
    const umask = process.umask(0o777 & ~o.mode);
    try {
      server.listen(o.path, () => {
        server.off('error', reject);
        server.on('error', (e) => o.log.warn({ err: e.message, socket: o.path }, 'control socket error'));
        resolve();
      });
    } finally {
      process.umask(umask);
    }
  });
  if (o.gid !== undefined && o.gid !== null) chownSync(o.path, -1, o.gid);
  return { server, counters, close: () => server.close() };
}

/**
 * Makes `path` free for our socket: nothing there, or a stale socket of a process that is gone
 * (removed). Refuses a file that is not a socket, and a socket that a live process answers on.
 */
export async function claimSocketPath(path: string): Promise<void> {
  let isSocket: boolean;
  try {
    isSocket = lstatSync(path).isSocket();
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return;
    throw e;
  }
  if (!isSocket) throw new Error(`control socket ${path} exists and is not a socket: refusing to remove it (move it away, or set control.socket)`);
  if (await socketAnswers(path)) throw new Error(`another tapvs answers on ${path}: refusing to start a second one (stop it, or set control.socket)`);
  unlinkSync(path);
}

function socketAnswers(path: string): Promise<boolean> {
  return new Promise((resolve) => {
    const s = createConnection(path);
    const done = (live: boolean) => {
      clearTimeout(timer);
      s.destroy();
      resolve(live);
    };
    // A listener that does not accept within the timeout is alive but busy: not ours to remove.
    const timer = setTimeout(() => done(true), LIVENESS_TIMEOUT_MS);
    s.once('connect', () => done(true));
    s.once('error', () => done(false));
  });
}

const utf8 = new TextDecoder('utf-8', { fatal: true });

/** One connected client: its request lines in, its replies out, each bounded. */
class ClientSession {
  /** Pieces of a request line not yet ended by a newline. */
  private partial: Buffer[] = [];
  private partialBytes = 0;
  /** Complete lines waiting while the client reads its replies. */
  private readonly lines: Buffer[] = [];
  private streaming = false;

  constructor(
    private readonly socket: Socket,
    private readonly o: ControlServerOptions,
    private readonly counters: ControlCounters,
  ) {
    socket.setTimeout(IDLE_TIMEOUT_MS, () => socket.destroy());
    socket.on('error', () => socket.destroy());
    socket.on('data', (chunk: Buffer) => this.receive(chunk));
    socket.on('drain', () => {
      if (this.streaming || socket.destroyed) return;
      socket.resume();
      this.pump();
    });
  }

  private receive(chunk: Buffer): void {
    if (this.streaming) return; // a streaming connection takes no more requests
    let start = 0;
    for (let nl = chunk.indexOf(10); nl >= 0; nl = chunk.indexOf(10, start)) {
      const tail = chunk.subarray(start, nl);
      this.lines.push(this.partialBytes ? Buffer.concat([...this.partial, tail]) : tail);
      this.partial = [];
      this.partialBytes = 0;
      start = nl + 1;
    }
    if (start < chunk.length) {
      this.partial.push(chunk.subarray(start));
      this.partialBytes += chunk.length - start;
    }
    if (this.partialBytes > MAX_REQUEST_BYTES) return this.refuse(`request longer than ${MAX_REQUEST_BYTES} bytes`);
    this.pump();
  }

  /** Answers queued lines until none are left, or the client stops reading. */
  private pump(): void {
    while (this.lines.length > 0 && !this.socket.destroyed && !this.streaming) {
      if (this.socket.writableLength > MAX_UNREAD_REPLY_BYTES) {
        this.socket.pause(); // 'drain' resumes us
        return;
      }
      const line = this.lines.shift()!;
      if (line.length > MAX_REQUEST_BYTES) return this.refuse(`request longer than ${MAX_REQUEST_BYTES} bytes`);
      this.answer(line);
    }
  }

  private refuse(error: string): void {
    this.reply({ id: null, ok: false, error });
    this.lines.length = 0;
    this.partial = [];
    this.partialBytes = 0;
    this.socket.end();
  }

  private answer(line: Buffer): void {
    let text: string;
    try {
      text = utf8.decode(line);
    } catch {
      return this.reply({ id: null, ok: false, error: 'request is not valid UTF-8' });
    }
    if (!text.trim()) return;
    this.counters.requests++;
    const answer = handle(text, this.o);
    if (answer instanceof StreamingAnswer) return this.startStream(answer);
    if (answer.ok === false) this.counters.request_errors++;
    this.reply(answer);
  }

  private startStream(answer: StreamingAnswer): void {
    this.streaming = true;
    this.lines.length = 0;
    const socket = this.socket;
    socket.setTimeout(0);
    socket.resume(); // keep reading (and discarding), so that a hang-up is noticed
    this.reply({ id: answer.id, ok: true, streaming: true });
    let dropped = 0;
    const send = (event: unknown): boolean => {
      if (socket.destroyed) return false;
      if (socket.writableLength > MAX_STREAM_BACKLOG_BYTES) {
        dropped++;
        this.counters.stream_events_dropped++;
        return false;
      }
      if (dropped > 0) {
        this.reply({ id: answer.id, dropped });
        dropped = 0;
      }
      this.reply({ id: answer.id, event });
      return true;
    };
    const stop = answer.stream.start(send);
    socket.once('close', stop);
  }

  private reply(msg: object): void {
    if (this.socket.destroyed) return;
    this.socket.write(`${encodeReply(msg)}\n`);
  }
}

/** JSON for a reply; a reply that cannot be encoded becomes an error reply that can. */
function encodeReply(msg: object): string {
  try {
    return JSON.stringify(msg);
  } catch (e) {
    const id = (msg as { id?: unknown }).id;
    return JSON.stringify({ id: typeof id === 'number' || typeof id === 'string' ? id : null, ok: false, error: `reply could not be encoded: ${(e as Error).message}` });
  }
}

class StreamingAnswer {
  constructor(
    readonly id: unknown,
    readonly stream: Stream,
  ) {}
}

type Reply = { id: unknown; ok: boolean; error?: string; result?: unknown };

function handle(line: string, o: ControlServerOptions): Reply | StreamingAnswer {
  let req: unknown;
  try {
    req = JSON.parse(line);
  } catch {
    return { id: null, ok: false, error: 'request is not valid JSON' };
  }
  if (typeof req !== 'object' || req === null || Array.isArray(req) || typeof (req as { op?: unknown }).op !== 'string') {
    return { id: null, ok: false, error: "request needs an 'op' string" };
  }
  const { id = null, op, ...args } = req as { id?: unknown; op: string };
  if (!(id === null || (typeof id === 'number' && Number.isFinite(id)) || (typeof id === 'string' && id.length <= MAX_ID_LENGTH))) {
    return { id: null, ok: false, error: `'id' must be a number or a string of at most ${MAX_ID_LENGTH} characters` };
  }
  if (o.allow && !o.allow.has(op)) return { id, ok: false, error: `operation '${op}' needs the admin socket: this one is read-only` };
  try {
    const result = o.handler(op, args);
    if (result instanceof Stream) return new StreamingAnswer(id, result);
    return { id, ok: true, result: result ?? null };
  } catch (e) {
    const message = e instanceof Error ? e.message : String(e);
    if (!(e instanceof Error) || e.constructor === Error || e instanceof TypeError || e instanceof RangeError) o.log.warn({ op, err: message }, 'control request failed');
    return { id, ok: false, error: message };
  }
}

function unreachable(path: string, e: NodeJS.ErrnoException): Error {
  const why = e.code === 'ENOENT' || e.code === 'ECONNREFUSED' ? 'is tapvs running? (set --socket or TAPVS_SOCKET)' : e.code === 'EACCES' ? 'permission denied (the admin socket needs its owner; monitoring users can use the read-only socket)' : e.message;
  return new Error(`cannot reach tapvs at ${path}: ${why}`);
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
      reject(unreachable(path, e));
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

/**
 * A streaming request: `onEvent` for each event, `onDropped` when the server dropped events
 * because we read too slowly, until close() (or the server goes away).
 */
export function controlStream(
  path: string,
  op: string,
  args: Record<string, unknown>,
  onEvent: (event: unknown) => void,
  onEnd: (error?: Error) => void,
  onDropped: (count: number) => void = () => {},
): { close(): void } {
  const socket = createConnection(path);
  let buffer = '';
  let started = false;
  socket.setEncoding('utf8');
  socket.on('error', (e: NodeJS.ErrnoException) => onEnd(unreachable(path, e)));
  socket.on('close', () => onEnd());
  socket.on('data', (chunk: string) => {
    buffer += chunk;
    let nl: number;
    while ((nl = buffer.indexOf('\n')) >= 0) {
      const msg = JSON.parse(buffer.slice(0, nl)) as { ok?: boolean; error?: string; streaming?: boolean; event?: unknown; dropped?: number };
      buffer = buffer.slice(nl + 1);
      if (!started) {
        if (!msg.ok) {
          onEnd(new Error(msg.error));
          socket.destroy();
          return;
        }
        started = true;
      } else if (msg.dropped !== undefined) onDropped(msg.dropped);
      else onEvent(msg.event);
    }
  });
  socket.write(`${JSON.stringify({ id: 1, op, ...args })}\n`);
  return { close: () => socket.destroy() };
}
