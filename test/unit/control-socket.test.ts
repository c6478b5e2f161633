// The control socket under hostile clients: bad JSON, missing fields, a line over the limit, a
// client that vanishes mid-request. Each gets a clear error or is cut off; the server answers
// the next client as before.

import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { mkdtempSync, rmSync, statSync } from 'node:fs';
import { createConnection, type Server } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { MAX_REQUEST_BYTES, controlRequest, startControlServer } from '../../src/control/socket.js';

const dir = mkdtempSync(join(tmpdir(), 'tapvs-sock-'));
const path = join(dir, 'control.sock');
const warnings: string[] = [];
let server: Server;

function raw(payload: string | Buffer, close = false): Promise<string> {
  return new Promise((resolve) => {
    const s = createConnection(path);
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

test.before(async () => {
  server = await startControlServer(
    path,
    0o600,
    (op, args) => {
      if (op === 'echo') return args;
      if (op === 'boom') throw new Error('something inside failed');
      throw new Error(`unknown operation '${op}'`);
    },
    { warn: (_o, msg) => warnings.push(msg) },
  );
});

test.after(() => {
  server.close();
  rmSync(dir, { recursive: true, force: true });
});

test('the socket is created 0600', () => {
  assert.is((statSync(path).mode & 0o777).toString(8), '600');
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

test('a line over the limit is refused and the connection closed', async () => {
  const out = await raw(Buffer.alloc(MAX_REQUEST_BYTES + 10, 0x61));
  assert.match(out, /request longer than 1048576 bytes/);
});

test('a client that disconnects mid-request costs nothing; the next is served', async () => {
  await raw('{"op": "echo", "half": ', true);
  await raw(Buffer.alloc(300_000, 0x20), true);
  assert.equal(await controlRequest(path, 'echo', { after: true }), { after: true });
});

test('several requests on one connection are answered in order', async () => {
  const out = await raw('{"id":1,"op":"echo","n":1}\n{"id":2,"op":"echo","n":2}\n');
  assert.equal(out.trim().split('\n').map((l) => JSON.parse(l).result.n), [1, 2]);
});

test.run();
