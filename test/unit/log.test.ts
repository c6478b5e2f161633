// The log: asynchronous, bounded, and its file rotated by size.

import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { existsSync, mkdtempSync, openSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createLogger } from '../../src/control/log.js';

const dir = mkdtempSync(join(tmpdir(), 'tapvs-log-'));
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
test.after(() => rmSync(dir, { recursive: true, force: true }));

test('the log file rotates at its size: it and FILE.1 stay bounded, and the newest lines are in it', async () => {
  const file = join(dir, 'tapvs.log');
  const sink = openSync('/dev/null', 'w');
  const log = createLogger('info', sink, { path: file, maxBytes: 20_000 });
  for (let i = 0; i < 3000; i++) {
    log.info({ i, pad: 'x'.repeat(60) }, 'line');
    if (i % 200 === 0) await sleep(5);
  }
  await sleep(300);
  const size = statSync(file).size;
  const older = statSync(`${file}.1`).size;
  console.log(`  3000 lines of ~150 bytes, limit 20 kB: tapvs.log ${size} B, tapvs.log.1 ${older} B`);
  assert.ok(existsSync(`${file}.1`));
  assert.ok(size < 20_000 + 200 && older < 20_000 + 200, `${size} / ${older} bytes: at most one line over`);
  assert.ok(process.listenerCount('exit') < 5, 'rotations add no exit listeners');
  const last = readFileSync(file, 'utf8').trim().split('\n').pop()!;
  assert.is(JSON.parse(last).i, 2999);
});

test.run();
