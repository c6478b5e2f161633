// One director restarting, with downloads in progress: a graceful restart hands the table to
// the next process; after a crash, sloppy TCP with a hash scheduler picks the same server
// again, and without it the client is reset instead of left hanging.

import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { readFileSync, writeFileSync } from 'node:fs';
import { VIP, directorLab } from '../../src/lab/director.js';
import { readState, startLabRouter, stopLabRouter } from '../../src/lab/lab.js';
import { onHost, skipUnlessRoot, slowDownload, sleep, startLab, stopLab, uniquePrefix } from '../helpers/lab.js';

const prefix = uniquePrefix('rs');
const blobSha = (host: string) => onHost(prefix, host, ['sha256sum', `/tmp/${prefix}-${host}-www/blob`]).stdout.split(' ')[0];
const routerLog = () => readFileSync(readState(prefix)!.routers[0].log, 'utf8');

/** A slow download; two seconds in, the director is stopped with `signal` and started again. */
async function downloadAcrossRestart(signal: NodeJS.Signals): Promise<Awaited<ReturnType<typeof slowDownload>>> {
  const download = slowDownload(prefix, 'client', VIP, '/blob', 300_000);
  await sleep(2000);
  await stopLabRouter(prefix, 'director', signal);
  await startLabRouter(prefix, 'director');
  const r = await download;
  console.log(`  across a ${signal} restart: ${r.bytes} B in ${r.seconds} s${r.error ? `, ${r.error}` : ''}`);
  return r;
}

function setSloppy(on: boolean): void {
  const file = readState(prefix)!.routers[0].config;
  const config = JSON.parse(readFileSync(file, 'utf8'));
  config.director = { ...config.director, sloppyTcp: on };
  writeFileSync(file, JSON.stringify(config, null, 2));
}

test.before(async () => {
  await startLab(directorLab(prefix, 'dr', { scheduler: 'sh' }));
});
test.after(() => stopLab(prefix));

test('a graceful restart (SIGTERM) hands the connection table to the next process: the download completes intact', async () => {
  const r = await downloadAcrossRestart('SIGTERM');
  assert.is(r.error, null);
  assert.ok([blobSha('rs1'), blobSha('rs2')].includes(r.sha256) && r.bytes === 2 * 1024 * 1024);
  const taken = /"entries":(\d+),"dropped":(\d+),"malformed":false,"msg":"connection handoff: took/.exec(routerLog());
  assert.ok(taken && Number(taken[1]) >= 1 && taken[2] === '0', 'the new process says what it took');
});

test('after a crash (kill -9) without sloppy TCP, the client is reset at once rather than left hanging', async () => {
  setSloppy(false);
  const r = await downloadAcrossRestart('SIGKILL');
  assert.match(r.error ?? '', /Reset/);
  assert.ok(r.seconds < 8, `reset after ${r.seconds} s`);
});

test('after a crash with sloppy TCP and sh, mid-stream segments go to the same server and the download completes', async () => {
  setSloppy(true);
  const r = await downloadAcrossRestart('SIGKILL');
  assert.is(r.error, null);
  assert.ok([blobSha('rs1'), blobSha('rs2')].includes(r.sha256) && r.bytes === 2 * 1024 * 1024, 'intact, from the server sh picked before');
});

if (!skipUnlessRoot('restart.test.ts')) test.run();
