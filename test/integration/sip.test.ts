// The SIP persistence engine with real SIP: sipp clients call through the director to a sipp
// server on each real server (DR). Every call's messages must reach one server (or the server
// sees a BYE for a call it never had and the client counts a failure), and calls spread.

import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { spawnSync } from 'node:child_process';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { VIP, directorLab } from '../../src/lab/director.js';
import { controlSocket, labRouterMac } from '../../src/lab/lab.js';
import { Capture, onHost, skipUnlessRoot, sleep, spawnOnHost, startLab, stopChild, stopLab, uniquePrefix } from '../helpers/lab.js';

const test = suite('SIP persistence engine with sipp');
const prefix = uniquePrefix('sp');
const TAPVSADM = join(dirname(fileURLToPath(import.meta.url)), '../../dist/tapvsadm.js');
const servers: ReturnType<typeof spawnOnHost>[] = [];

const adm = (args: string[]) => spawnSync(process.execPath, [TAPVSADM, ...args], { encoding: 'utf8', env: { ...process.env, TAPVS_SOCKET: controlSocket(prefix, 'director') } });

test.before(async () => {
  await startLab(directorLab(prefix, 'dr'));
  for (const args of [
    ['-A', '-u', `${VIP}:5060`, '-s', 'rr', '-p', '60', '--pe', 'sip'],
    ['-a', '-u', `${VIP}:5060`, '-r', '192.168.1.11', '-g'],
    ['-a', '-u', `${VIP}:5060`, '-r', '192.168.1.12', '-g'],
  ]) {
    const r = adm(args);
    if (r.status !== 0) throw new Error(`tapvsadm ${args.join(' ')}: ${r.stderr}`);
  }
  // A sipp UAS on each real server, answering from the VIP (DR: replies go straight back).
  for (const rs of ['rs1', 'rs2']) servers.push(spawnOnHost(prefix, rs, ['sipp', '-sn', 'uas', '-i', VIP, '-p', '5060', '-nostdin']));
  for (const rs of ['rs1', 'rs2']) {
    for (let i = 0; i < 100 && !/:5060\b/.test(onHost(prefix, rs, ['ss', '-lunH']).stdout); i++) await sleep(50);
  }
});

test.after(async () => {
  for (const s of servers) await stopChild(s);
  await stopLab(prefix);
});

test('40 calls from one client port: all succeed, each call on one server, calls on both', async () => {
  const wire = await Capture.start(prefix, 'br-lan', 'udp port 5060');
  const uac = onHost(prefix, 'client', ['sipp', '-sn', 'uac', `${VIP}:5060`, '-i', '10.0.0.2', '-p', '5070', '-m', '40', '-r', '20', '-l', '10', '-timeout', '30', '-timeout_error', '-nostdin', '-trace_stat', '-stf', `/tmp/${prefix}-uac.csv`], 60_000);
  const director = labRouterMac(prefix, 'director', 'lan');
  // Requests the director forwarded: from the client, leaving the director toward a real server.
  const rows = await wire.fields(`sip.Method && ip.src == 10.0.0.2 && eth.src == ${director}`, ['sip.Call-ID', 'sip.Method', 'eth.dst']);
  const stats = spawnSync('sh', ['-c', `tail -1 /tmp/${prefix}-uac.csv; rm -f /tmp/${prefix}-uac.csv`], { encoding: 'utf8' }).stdout;
  assert.is(uac.status, 0, `sipp uac failed:\n${uac.stdout}\n${uac.stderr}\n${stats}`);
  const byCall = new Map<string, Set<string>>();
  for (const [callId, , mac] of rows) byCall.set(callId, (byCall.get(callId) ?? new Set()).add(mac));
  assert.is(byCall.size, 40, `saw ${byCall.size} calls`);
  for (const [callId, macs] of byCall) assert.is(macs.size, 1, `call ${callId} went to ${[...macs].join(' and ')}`);
  const perServer = new Map<string, number>();
  for (const macs of byCall.values()) for (const m of macs) perServer.set(m, (perServer.get(m) ?? 0) + 1);
  assert.is(perServer.size, 2, 'calls spread over both real servers');
  assert.ok([...perServer.values()].every((n) => n >= 10), `spread ${[...perServer.values()].join('/')}`);
  const methods = new Set(rows.map(([, m]) => m));
  assert.ok(methods.has('INVITE') && methods.has('ACK') && methods.has('BYE'));
});

if (!skipUnlessRoot('sip.test.ts')) test.run();
