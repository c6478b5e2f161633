// The control socket under hostile clients. Each attack gets an error reply or a disconnect,
// memory held for a client stays bounded, and the server answers the next client as before.
// Figures (requests answered while a client does not read, events dropped) are printed.

import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, statSync, writeFileSync, existsSync } from 'node:fs';
import { createConnection, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { MAX_REQUEST_BYTES, MAX_STREAM_BACKLOG_BYTES, MAX_UNREAD_REPLY_BYTES, Stream, controlRequest, controlStream, startControlServer, type ControlServer } from '../../src/control/socket.js';

const dir = mkdtempSync(join(tmpdir(), 'tapvs-sock-'));
const path = join(dir, 'control.sock');
const warnings: string[] = [];
const log = { warn: (_o: object, msg: string) => warnings.push(msg) };
const BIG_REPLY = 'x'.repeat(100_000);
let bigReplies = 0;
let emit: ((e: unknown) => boolean) | null = null;
let server: ControlServer;

const handler = (op: string, args: Record<string, unknown>) => {
  if (op === 'echo') return args;
  if (op === 'boom') throw new Error('something inside failed');
  if (op === 'big') {
    bigReplies++;
    return BIG_REPLY;
  }
  if (op === 'watch') return new Stream((send) => ((emit = send), () => (emit = null)));
  throw new Error(`unknown operation '${op}'`);
};

function raw(payload: string | Buffer, close = false, p = path): Promise<string> {
  return new Promise((resolve) => {
    const s = createConnection(p);
    let out = '';
    s.on('data', (d) => (out += d));
    s.on('close', () => resolve(out));
    s.on('error', () => resolve(out));
    s.write(payload, () => {
      if (close) s.destroy();
      else setTimeout(() => s.end(), 200);
    });
  });
}
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const stillServes = async () => assert.equal(await controlRequest(path, 'echo', { alive: true }), { alive: true });

test.before(async () => {
  server = await startControlServer({ path, mode: 0o600, maxClients: 6, handler, log });
});

test.after(() => {
  server.close();
  rmSync(dir, { recursive: true, force: true });
});

test('the socket is created 0600, and with its final mode from the start', async () => {
  assert.is((statSync(path).mode & 0o777).toString(8), '600');
  const p2 = join(dir, 'mode.sock');
  const umask = process.umask();
  const s2 = await startControlServer({ path: p2, mode: 0o640, handler, log });
  assert.is((statSync(p2).mode & 0o777).toString(8), '640');
  assert.is(process.umask(), umask, 'the process umask is put back');
  s2.close();
});

test('a good request, then errors that say what was wrong', async () => {
  assert.equal(await controlRequest(path, 'echo', { x: 1 }), { x: 1 });
  assert.match(await raw('{not json\n'), /"ok":false,"error":"request is not valid JSON"/);
  assert.match(await raw('{"id": 3}\n'), /"error":"request needs an 'op' string"/);
  assert.match(await raw('[1,2]\n'), /request needs an 'op' string/);
  const failure = (op: string) => controlRequest(path, op).then(() => new Error('accepted'), (e: Error) => e);
  assert.match((await failure('frobnicate')).message, /unknown operation 'frobnicate'/);
  assert.match((await failure('boom')).message, /something inside failed/);
});

test('attack: an id nested 100,000 deep (it used to kill tapvs) gets an error, not a crash', async () => {
  const deep = `{"id":${'['.repeat(100_000)}${']'.repeat(100_000)},"op":"echo"}\n`;
  assert.match(await raw(deep), /"id":null,"ok":false,"error":"'id' must be a number or a string/);
  // Deep arguments echoed back: the reply cannot be encoded, so it becomes an error reply.
  const deepArgs = `{"id":7,"op":"echo","x":${'['.repeat(100_000)}${']'.repeat(100_000)}}\n`;
  assert.match(await raw(deepArgs), /"id":7,"ok":false,"error":"reply could not be encoded: Maximum call stack/);
  await stillServes();
});

test('attack: a line over the limit is refused and the connection closed', async () => {
  const out = await raw(Buffer.alloc(MAX_REQUEST_BYTES + 10, 0x61));
  assert.match(out, /request longer than 1048576 bytes/);
  await stillServes();
});

test('attack: a request sent one byte at a time is answered', async () => {
  const req = Buffer.from(`{"id":5,"op":"echo","pad":"${'p'.repeat(300)}"}\n`);
  const answer = await new Promise<string>((resolve) => {
    const s = createConnection(path);
    let out = '';
    s.on('data', (d) => {
      out += d;
      if (out.includes('\n')) {
        s.destroy();
        resolve(out);
      }
    });
    let i = 0;
    const next = () => {
      if (i < req.length) s.write(req.subarray(i, ++i), () => setImmediate(next));
    };
    next();
  });
  assert.match(answer, /"id":5,"ok":true/);
});

test('attack: invalid UTF-8 gets an error naming it', async () => {
  const bad = Buffer.concat([Buffer.from('{"op":"echo","x":"'), Buffer.from([0xff, 0xfe, 0xc3]), Buffer.from('"}\n')]);
  assert.match(await raw(bad), /request is not valid UTF-8/);
});

test('attack: a client that disconnects mid-request costs nothing; the next is served', async () => {
  await raw('{"op": "echo", "half": ', true);
  await raw(Buffer.alloc(300_000, 0x20), true);
  await stillServes();
});

test('several requests on one connection are answered in order', async () => {
  const out = await raw('{"id":1,"op":"echo","n":1}\n{"id":2,"op":"echo","n":2}\n');
  assert.equal(out.trim().split('\n').map((l) => JSON.parse(l).result.n), [1, 2]);
});

test('attack: a client that never reads its replies is not answered without bound', async () => {
  bigReplies = 0;
  const requests = 5000;
  const s = createConnection(path);
  s.pause(); // never read
  await new Promise<void>((resolve) => s.on('connect', () => resolve()));
  s.write(`${'{"op":"big"}\n'.repeat(requests)}`);
  await sleep(1500);
  const answered = bigReplies;
  // Replies of 100 kB: what fits under the unread-reply cap, plus what the kernel buffers.
  const bound = Math.ceil(MAX_UNREAD_REPLY_BYTES / BIG_REPLY.length) + 64;
  console.log(`  a non-reading client sent ${requests} requests for 100 kB replies: ${answered} answered (bound ${bound}), the rest wait`);
  assert.ok(answered < bound, `${answered} replies built for a client that reads none`);
  await stillServes();
  // Once it reads, it gets everything, in order.
  let got = 0;
  let buf = '';
  s.on('data', (d) => {
    buf += d;
    let nl: number;
    while ((nl = buf.indexOf('\n')) >= 0) {
      got++;
      buf = buf.slice(nl + 1);
    }
  });
  s.resume();
  for (let i = 0; i < 300 && got < requests; i++) await sleep(50);
  s.destroy();
  assert.is(got, requests);
});

test('attack: a watcher that stops reading loses events (counted), never memory', async () => {
  const s: Socket = createConnection(path);
  s.write('{"id":9,"op":"watch"}\n');
  for (let i = 0; i < 100 && emit === null; i++) await sleep(10);
  s.pause();
  await sleep(100);
  const before = server.counters.stream_events_dropped;
  const event = { record: 'e'.repeat(1000) };
  let delivered = 0;
  for (let i = 0; i < 20_000; i++) if (emit!(event)) delivered++;
  const dropped = server.counters.stream_events_dropped - before;
  console.log(`  20000 trace events of 1 kB to a paused watcher: ${delivered} queued, ${dropped} dropped and counted`);
  assert.ok(dropped > 0);
  assert.ok(delivered * 1000 < MAX_STREAM_BACKLOG_BYTES + 1_100_000, `${delivered} events queued`);
  s.destroy();
  await sleep(50);
  assert.is(emit, null, 'the stream stops when the watcher leaves');
});

test('a slow watcher is told how many events it lost', async () => {
  const dropped: number[] = [];
  const events: unknown[] = [];
  const stream = controlStream(path, 'watch', {}, (e) => events.push(e), () => {}, (n) => dropped.push(n));
  for (let i = 0; i < 100 && emit === null; i++) await sleep(10);
  const big = { record: 'e'.repeat(MAX_STREAM_BACKLOG_BYTES + 10) };
  emit!(big); // fills the backlog at once
  emit!({ n: 1 }); // dropped
  for (let i = 0; i < 200 && events.length === 0; i++) await sleep(10);
  await sleep(100);
  emit!({ n: 2 });
  for (let i = 0; i < 200 && events.length < 2; i++) await sleep(10);
  stream.close();
  assert.equal(dropped, [1]);
  assert.equal(events[1], { n: 2 });
});

test('attack: clients beyond the cap are told so and cut off; a place frees when one leaves', async () => {
  const idle: Socket[] = [];
  for (let i = 0; i < 6; i++) {
    const s = createConnection(path);
    await new Promise<void>((resolve) => s.on('connect', () => resolve()));
    idle.push(s);
  }
  await sleep(50);
  assert.match(await raw('{"op":"echo"}\n'), /too many control clients \(6\)/);
  assert.ok(server.counters.clients_refused >= 1);
  idle.pop()!.destroy();
  await sleep(50);
  await stillServes();
  for (const s of idle) s.destroy();
});

test('a read-only socket serves what it allows and refuses the rest', async () => {
  const ro = join(dir, 'ro.sock');
  const s = await startControlServer({ path: ro, mode: 0o660, allow: new Set(['echo']), handler, log });
  assert.equal(await controlRequest(ro, 'echo', { y: 2 }), { y: 2 });
  const e = await controlRequest(ro, 'boom').then(() => null, (err: Error) => err.message);
  assert.is(e, "operation 'boom' needs the admin socket: this one is read-only");
  assert.is((statSync(ro).mode & 0o777).toString(8), '660');
  s.close();
  if (process.getuid?.() === 0) {
    // Its group: monitoring users get in through it, nobody else.
    const grouped = await startControlServer({ path: ro, mode: 0o660, gid: 65534, allow: new Set(['echo']), handler, log });
    assert.is(statSync(ro).gid, 65534);
    grouped.close();
  }
});

test('start-up refuses a path that is not a socket, and one a live server answers on', async () => {
  const file = join(dir, 'not-a-socket');
  writeFileSync(file, 'precious');
  const e1 = await startControlServer({ path: file, mode: 0o600, handler, log }).then(() => null, (e: Error) => e.message);
  assert.match(e1 ?? '', /exists and is not a socket: refusing to remove it/);
  assert.ok(existsSync(file), 'the file is still there');
  const e2 = await startControlServer({ path, mode: 0o600, handler, log }).then(() => null, (e: Error) => e.message);
  assert.match(e2 ?? '', /another tapvs answers on .*: refusing to start a second one/);
  await stillServes();
});

test('start-up replaces a stale socket left by a process that died', async () => {
  const stale = join(dir, 'stale.sock');
  const r = spawnSync(process.execPath, ['-e', `require('net').createServer().listen(${JSON.stringify(stale)}, () => process.kill(process.pid, 'SIGKILL'))`]);
  assert.is(r.signal, 'SIGKILL');
  assert.ok(statSync(stale).isSocket(), 'the dead process left its socket');
  const s = await startControlServer({ path: stale, mode: 0o600, handler, log });
  assert.equal(await controlRequest(stale, 'echo', { z: 3 }), { z: 3 });
  s.close();
});

test.run();
